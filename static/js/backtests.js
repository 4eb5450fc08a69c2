// Backtest pages: progress bars that follow `backtest.progress` events (and the row or run
// partial fetched again when a run's status changes), the form's sizing setting that fits the
// chosen method, then the charts of a run (equity, drawdown, candles with its entries and
// exits marked) and of a comparison (one normalised equity line per run). Chart data comes
// from json_script elements or the run's chart.json.
(function () {
  "use strict";

  // --- progress ---------------------------------------------------------------------------
  // Holders carry data-run-id, data-status and (with an id) data-partial-url: a table row on
  // the list, the run's body on its page. The bar moves with each event; a new status (queued
  // -> running -> done, failed or cancelled) fetches the holder again.
  document.addEventListener("platform:backtest.progress", function (e) {
    const run = e.detail || {};
    document.querySelectorAll('[data-run-id="' + run.id + '"]').forEach(function (holder) {
      holder.querySelectorAll("progress.run-progress").forEach(function (bar) {
        bar.value = run.progress;
      });
      holder.querySelectorAll("[data-progress-text]").forEach(function (text) {
        text.textContent = Math.round(run.progress * 100) + " %";
      });
      holder.dataset.progress = String(run.progress);
      if (run.status !== holder.dataset.status && holder.id && holder.dataset.partialUrl &&
          window.platformEvents) {
        holder.dataset.status = run.status;
        window.platformEvents.refreshPartial(holder.id);
      }
    });
  });

  // --- the compare selection survives a row fetched again (a late event, the poll) ----------
  const chosen = new Set();
  document.addEventListener("change", function (e) {
    if (e.target.name !== "ids") return;
    if (e.target.checked) chosen.add(e.target.value); else chosen.delete(e.target.value);
  });
  document.addEventListener("htmx:afterSwap", function () {
    document.querySelectorAll("input[name=ids]").forEach(function (box) {
      if (chosen.has(box.value)) box.checked = true;
    });
  });

  // --- charts -----------------------------------------------------------------------------
  const LC = window.LightweightCharts;
  if (!LC) return;
  const PALETTE = ["#f0b90b", "#4fc3f7", "#ce93d8", "#2ebd85", "#ff8a65", "#8e7cc3",
                   "#f6465d", "#90a4ae", "#aed581", "#ffd54f"];

  function makeChart(box) {
    return LC.createChart(box, {
      autoSize: true,
      layout: { background: { color: "#182028" }, textColor: "#c9d1d9" },
      grid: { vertLines: { color: "#222c36" }, horzLines: { color: "#222c36" } },
      timeScale: { timeVisible: true, secondsVisible: false },
    });
  }

  function readJson(id) {
    const holder = document.getElementById(id);
    return holder ? JSON.parse(holder.textContent) : [];
  }

  function done(box, chart, count) {
    chart.timeScale().fitContent();
    box.dataset.loaded = String(count);
  }

  function equityChart(box) {
    const points = readJson(box.dataset.source);
    const chart = makeChart(box);
    chart.addSeries(LC.LineSeries, { color: "#f0b90b", lineWidth: 2, priceLineVisible: false })
      .setData(points);
    done(box, chart, points.length);
  }

  function drawdownChart(box) {
    const points = readJson(box.dataset.source);
    const chart = makeChart(box);
    chart.addSeries(LC.BaselineSeries, {
      baseValue: { type: "price", price: 0 }, priceLineVisible: false,
      topLineColor: "#2ebd85", topFillColor1: "rgba(46, 189, 133, 0)",
      topFillColor2: "rgba(46, 189, 133, 0)", bottomLineColor: "#f6465d",
      bottomFillColor1: "rgba(246, 70, 93, .05)", bottomFillColor2: "rgba(246, 70, 93, .4)",
      priceFormat: { type: "percent" },
    }).setData(points);
    done(box, chart, points.length);
  }

  // The arrows carry words ("buy", the exit reason) only while few are in view: hundreds of
  // labels on a zoomed-out chart would cover the candles.
  const WORDS_IN_VIEW = 60;

  function candleChart(box) {
    const chart = makeChart(box);
    const candles = chart.addSeries(LC.CandlestickSeries, {
      upColor: "#2ebd85", downColor: "#f6465d", borderVisible: false,
      wickUpColor: "#2ebd85", wickDownColor: "#f6465d",
    });
    const markers = LC.createSeriesMarkers(candles, []);
    let all = [], bare = [], worded = null;

    function showMarkers() {
      const range = chart.timeScale().getVisibleRange();
      const inView = range ? all.filter((m) => m.time >= range.from && m.time <= range.to).length
                           : all.length;
      const words = inView <= WORDS_IN_VIEW;
      if (words === worded) return;
      worded = words;
      markers.setMarkers(words ? all : bare);
      box.dataset.markerWords = String(words);
    }

    fetch(box.dataset.url, { credentials: "same-origin" })
      .then((response) => response.json())
      .then(function (data) {
        candles.setData(data.candles);
        all = data.markers;
        bare = all.map((m) => Object.assign({}, m, { text: "" }));
        const note = document.getElementById("candle-chart-note");
        if (note) {
          const parts = [];
          if (!data.candles.length) parts.push("No candles of this range are stored any more.");
          if (data.merged > 1) {
            parts.push(data.candle_count.toLocaleString("en-US") + " candles, drawn " +
                       data.merged + " to a bar.");
          }
          if (all.length > WORDS_IN_VIEW) parts.push("Zoom in to read the words on the arrows.");
          if (data.trades_marked < (+box.dataset.trades || 0)) {
            parts.push("The first " + data.trades_marked + " trades are marked.");
          }
          note.textContent = parts.join(" ");
          note.hidden = parts.length === 0;
        }
        box.dataset.markers = String(data.markers.length);
        done(box, chart, data.candles.length);
        showMarkers();
        chart.timeScale().subscribeVisibleTimeRangeChange(showMarkers);
      });
  }

  function compareChart(box) {
    const lines = readJson(box.dataset.source);
    const chart = makeChart(box);
    const legend = document.getElementById("compare-legend");
    lines.forEach(function (line, n) {
      const color = PALETTE[n % PALETTE.length];
      chart.addSeries(LC.LineSeries, { color: color, lineWidth: 2, priceLineVisible: false,
                                       title: "#" + line.id }).setData(line.points);
      if (legend) {
        const item = document.createElement("li");
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.background = color;
        item.append(swatch, line.label);
        legend.append(item);
      }
    });
    done(box, chart, lines.length);
  }

  const KINDS = { equity: equityChart, drawdown: drawdownChart, candles: candleChart,
                  compare: compareChart };

  function drawCharts() {
    document.querySelectorAll("[data-chart]").forEach(function (box) {
      if (box.dataset.drawn || !KINDS[box.dataset.chart]) return;
      box.dataset.drawn = "1";
      KINDS[box.dataset.chart](box);
    });
  }

  drawCharts();
  // A run that finishes while its page is open: its results arrive as a partial.
  document.body.addEventListener("htmx:afterSettle", drawCharts);
})();
