// The equity curve of a portfolio (dashboard, portfolio page): one point per snapshot, taken
// every minute, so the curve is fetched again once a minute.
(function () {
  "use strict";
  const box = document.getElementById("equity-chart");
  if (!box || !window.LightweightCharts) return;
  const LC = window.LightweightCharts;
  const chart = LC.createChart(box, {
    autoSize: true,
    layout: { background: { color: "#182028" }, textColor: "#c9d1d9" },
    grid: { vertLines: { color: "#222c36" }, horzLines: { color: "#222c36" } },
    timeScale: { timeVisible: true, secondsVisible: false },
  });
  const curve = chart.addSeries(LC.AreaSeries, {
    lineColor: "#f0b90b", topColor: "rgba(240, 185, 11, .3)", bottomColor: "rgba(240, 185, 11, 0)",
    lineWidth: 2, priceLineVisible: false,
  });
  const empty = document.getElementById("equity-empty");

  function load() {
    return fetch(box.dataset.url, { credentials: "same-origin" })
      .then((response) => response.json())
      .then(function (data) {
        curve.setData(data.points);
        if (empty) empty.hidden = data.points.length > 0;
        box.dataset.loaded = String(data.points.length);
      });
  }

  load().then(function () { chart.timeScale().fitContent(); });
  setInterval(load, 60000);
})();
