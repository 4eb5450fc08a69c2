// Live prices for every element carrying data-symbol (the market table, a symbol's header):
// subscribes to those symbols and rewrites their data-field cells as updates arrive.
(function () {
  "use strict";
  const holders = Array.from(document.querySelectorAll("[data-symbol]"));
  const symbols = [...new Set(holders.map((el) => el.dataset.symbol))];
  if (!symbols.length || !window.platformEvents) return;
  window.platformEvents.subscribe(symbols);

  function cells(symbol, field) {
    return holders.filter((el) => el.dataset.symbol === symbol)
      .flatMap((el) => Array.from(el.querySelectorAll('[data-field="' + field + '"]')));
  }

  function show(symbol, field, text, cls) {
    cells(symbol, field).forEach(function (cell) {
      if (cell.textContent !== text) {
        cell.textContent = text;
        cell.classList.remove("flash");
        void cell.offsetWidth;  // restart the flash animation
        cell.classList.add("flash");
      }
      if (cls) { cell.classList.remove("ok", "bad"); cell.classList.add(cls); }
    });
  }

  function markFresh(symbol, stale) {
    cells(symbol, "stale").forEach(function (badge) {
      badge.textContent = stale ? "stale" : "live";
      badge.classList.toggle("stale", stale);
      badge.classList.toggle("fresh", !stale);
    });
  }

  document.addEventListener("platform:price.update", function (e) {
    if (e.detail.price) show(e.detail.symbol, "price", e.detail.price);
    markFresh(e.detail.symbol, false);
  });
  document.addEventListener("platform:ticker.update", function (e) {
    const d = e.detail;
    show(d.symbol, "price", d.price);
    show(d.symbol, "change_pct", d.change_pct + " %", d.change_pct.startsWith("-") ? "bad" : "ok");
    show(d.symbol, "quote_volume", d.quote_volume);
  });
  document.addEventListener("platform:market.status", function (e) {
    markFresh(e.detail.symbol, e.detail.stale);
  });
})();
