// The AI symbol page: its "latest analysis" partial is fetched again when an `ai.analysis`
// event about the symbol arrives (the page subscribes to the symbol's group, as the market
// page does), and the score chart gains the new analysis as a point.
(function () {
  "use strict";
  const page = document.getElementById("ai-symbol");
  if (!page) return;
  const symbol = page.dataset.aiSymbol, market = page.dataset.market;
  if (window.platformEvents) window.platformEvents.subscribe([symbol]);

  // --- the scores chart ---------------------------------------------------------------------
  const LC = window.LightweightCharts;
  const box = document.getElementById("ai-score-chart");
  const lines = {};
  if (LC && box) {
    const chart = LC.createChart(box, {
      autoSize: true,
      layout: { background: { color: "#182028" }, textColor: "#c9d1d9" },
      grid: { vertLines: { color: "#222c36" }, horzLines: { color: "#222c36" } },
      timeScale: { timeVisible: true, secondsVisible: false },
    });
    // Scores live in -1..1: a fixed scale keeps a flat week from looking like a swing.
    const range = () => ({ priceRange: { minValue: -1, maxValue: 1 } });
    const colours = { combined: ["#f0b90b", 2], technical: ["#4fc3f7", 1], sentiment: ["#ce93d8", 1] };
    const history = JSON.parse(document.getElementById(box.dataset.source).textContent);
    Object.entries(colours).forEach(function ([name, [color, width]]) {
      lines[name] = chart.addSeries(LC.LineSeries, {
        color: color, lineWidth: width, priceLineVisible: false, autoscaleInfoProvider: range });
      lines[name].setData(history[name] || []);
    });
    chart.timeScale().fitContent();
    box.dataset.loaded = String((history.combined || []).length);
  }

  function addPoint(d) {
    const time = Math.floor(Date.parse(d.as_of) / 1000);
    try {
      lines.combined.update({ time: time, value: d.combined_score });
      lines.technical.update({ time: time, value: d.technical_score });
      lines.sentiment.update({ time: time, value: d.sentiment_score });
    } catch (error) {
      // An analysis of an earlier close (a re-run): the chart only appends; a reload shows it.
    }
  }

  document.addEventListener("platform:ai.analysis", function (e) {
    const d = e.detail || {};
    if (d.symbol !== symbol || (d.market && d.market !== market)) return;
    document.querySelectorAll("[data-refresh-on~='ai.analysis']").forEach(function (holder) {
      if (holder.id && holder.dataset.aiSymbol === symbol && window.platformEvents) {
        window.platformEvents.refreshPartial(holder.id);
      }
    });
    // The event names no market yet: points are only added where the beat analyses (spot).
    if (lines.combined && (d.market || "spot") === market) addPoint(d);
  });
})();
