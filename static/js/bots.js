// Bot pages, the bot tables and the portfolio figures: partials that follow pushed events, the
// bot form's sizing setting that fits the chosen method, and a bot's candle chart with its
// fills marked (buys below the candle, sells above).
(function () {
  "use strict";

  // --- partials that follow events ----------------------------------------------------------
  // An element with an id, data-partial-url and data-refresh-on="bot.status fill.new ..." is
  // fetched again (outerHTML) when one of those events arrives. data-bot-id and
  // data-portfolio-id narrow it to events about that bot or portfolio, when the event says.
  const TYPES = ["bot.status", "bot.decision", "fill.new", "order.update", "position.update",
                 "portfolio.update", "risk.alert", "risk.update", "bot.approval"];
  function refresh(id) { if (window.platformEvents) window.platformEvents.refreshPartial(id); }

  function concerns(holder, type, detail) {
    const botId = type === "bot.status" ? detail.id : detail.bot_id;
    if (holder.dataset.botId && botId !== undefined && String(botId) !== holder.dataset.botId) {
      return false;
    }
    const portfolioId = detail.portfolio_id;
    return !(holder.dataset.portfolioId && portfolioId !== undefined &&
             String(portfolioId) !== holder.dataset.portfolioId);
  }

  TYPES.forEach(function (type) {
    document.addEventListener("platform:" + type, function (e) {
      document.querySelectorAll("[data-refresh-on]").forEach(function (holder) {
        const wanted = holder.dataset.refreshOn.split(/\s+/);
        if (holder.id && wanted.includes(type) && concerns(holder, type, e.detail || {})) {
          refresh(holder.id);
        }
      });
    });
  });

  // --- the bot's chart ----------------------------------------------------------------------
  const box = document.getElementById("bot-chart");
  if (!box || !window.LightweightCharts) return;
  const LC = window.LightweightCharts;
  const symbol = box.dataset.symbol, interval = box.dataset.interval;
  const chart = LC.createChart(box, {
    autoSize: true,
    layout: { background: { color: "#182028" }, textColor: "#c9d1d9" },
    grid: { vertLines: { color: "#222c36" }, horzLines: { color: "#222c36" } },
    timeScale: { timeVisible: true, secondsVisible: false },
  });
  const candles = chart.addSeries(LC.CandlestickSeries, {
    upColor: "#2ebd85", downColor: "#f6465d", borderVisible: false,
    wickUpColor: "#2ebd85", wickDownColor: "#f6465d",
  });
  const markers = LC.createSeriesMarkers(candles, []);
  let reload = null;

  function load() {
    return fetch(box.dataset.url, { credentials: "same-origin" })
      .then((response) => response.json())
      .then(function (data) {
        document.getElementById("bot-chart-empty").hidden = data.candles.length > 0;
        candles.setData(data.candles);
        markers.setMarkers(data.markers);
        box.dataset.loaded = String(data.candles.length);
        box.dataset.markers = String(data.markers.length);
      });
  }

  function loadSoon() {
    clearTimeout(reload);
    reload = setTimeout(load, 200);
  }

  load().then(function () { chart.timeScale().fitContent(); });
  if (window.platformEvents) window.platformEvents.subscribe([symbol]);

  document.addEventListener("platform:fill.new", function (e) {
    if (e.detail.symbol === symbol) loadSoon();
  });
  document.addEventListener("platform:candle.update", function (e) {
    const c = e.detail;
    if (c.symbol !== symbol || c.interval !== interval) return;
    try {
      candles.update({ time: c.time, open: +c.open, high: +c.high, low: +c.low, close: +c.close });
    } catch (error) {  // an update older than the last candle: the full reload below fixes it
      loadSoon();
    }
    if (c.closed) loadSoon();
  });
})();
