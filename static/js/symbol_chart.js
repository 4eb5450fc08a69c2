// The symbol page's chart: candles and indicator overlays from chart-data, an RSI and a MACD
// pane, then live updates of the forming candle from `candle.update` events. When a candle
// closes the indicators are fetched again, computed by the same Python functions bots use.
(function () {
  "use strict";
  const box = document.getElementById("chart");
  if (!box || !window.LightweightCharts) return;
  const LC = window.LightweightCharts;
  const symbol = box.dataset.symbol, interval = box.dataset.interval;
  const chart = LC.createChart(box, {
    autoSize: true,
    layout: { background: { color: "#182028" }, textColor: "#c9d1d9", panes: { separatorColor: "#2a3540" } },
    grid: { vertLines: { color: "#222c36" }, horzLines: { color: "#222c36" } },
    timeScale: { timeVisible: true, secondsVisible: false },
  });
  const candles = chart.addSeries(LC.CandlestickSeries, {
    upColor: "#2ebd85", downColor: "#f6465d", borderVisible: false,
    wickUpColor: "#2ebd85", wickDownColor: "#f6465d",
  });
  const line = (color, pane, width) => chart.addSeries(LC.LineSeries,
    { color: color, lineWidth: width || 1, priceLineVisible: false, lastValueVisible: false }, pane || 0);
  const overlays = {
    sma: [["sma20", line("#f0b90b")], ["sma50", line("#8e7cc3")]],
    ema: [["ema12", line("#4fc3f7")], ["ema26", line("#ff8a65")]],
    bb: [["bb_upper", line("#607d8b")], ["bb_lower", line("#607d8b")]],
  };
  const rsi = line("#ce93d8", 1, 2);
  const macd = line("#4fc3f7", 2), signal = line("#ff8a65", 2);
  const hist = chart.addSeries(LC.HistogramSeries, { priceLineVisible: false, lastValueVisible: false }, 2);
  const panes = chart.panes();
  if (panes.length === 3) {  // price gets most of the height; RSI and MACD share the rest
    panes[0].setStretchFactor(4); panes[1].setStretchFactor(1); panes[2].setStretchFactor(1.3);
  }

  function applyOverlayVisibility() {
    document.querySelectorAll("[data-overlay]").forEach(function (toggle) {
      overlays[toggle.dataset.overlay].forEach(([, series]) =>
        series.applyOptions({ visible: toggle.checked }));
    });
  }

  function load() {
    return fetch(box.dataset.url, { credentials: "same-origin" })
      .then((response) => response.json())
      .then(function (data) {
        document.getElementById("chart-empty").hidden = data.candles.length > 0;
        candles.setData(data.candles);
        Object.values(overlays).flat().forEach(([name, series]) => series.setData(data.overlays[name] || []));
        rsi.setData(data.panes.rsi || []);
        macd.setData(data.panes.macd || []);
        signal.setData(data.panes.macd_signal || []);
        hist.setData((data.panes.macd_hist || []).map((p) => ({
          time: p.time, value: p.value, color: p.value >= 0 ? "#2ebd8580" : "#f6465d80" })));
        box.dataset.loaded = String(data.candles.length);
      });
  }

  document.querySelectorAll("[data-overlay]").forEach((t) => t.addEventListener("change", applyOverlayVisibility));
  applyOverlayVisibility();
  load().then(function () { chart.timeScale().fitContent(); });

  document.addEventListener("platform:candle.update", function (e) {
    const c = e.detail;
    if (c.symbol !== symbol || c.interval !== interval) return;
    candles.update({ time: c.time, open: +c.open, high: +c.high, low: +c.low, close: +c.close });
    if (c.closed) load();
  });
})();
