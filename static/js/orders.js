// The orders page: shows only the ticket fields the chosen order type takes, refreshes the
// partials the pushed events concern (order.update, fill.new, position.update) and recomputes
// unrealised PnL (quantity x price - cost) from price.update of the position symbols.
(function () {
  "use strict";
  const FIELDS_BY_TYPE = {
    MARKET: ["quantity", "quote_quantity"],
    LIMIT: ["quantity", "price", "time_in_force"],
    LIMIT_MAKER: ["quantity", "price"],
    STOP_LOSS_LIMIT: ["quantity", "price", "stop_price", "time_in_force"],
    TAKE_PROFIT_LIMIT: ["quantity", "price", "stop_price", "time_in_force"],
  };
  const OPTIONAL = ["quantity", "quote_quantity", "price", "stop_price", "time_in_force"];

  function fitTicket() {
    const ticket = document.getElementById("order-ticket");
    if (!ticket) return;
    const type = ticket.querySelector("[name=type]");
    const wanted = FIELDS_BY_TYPE[type.value] || OPTIONAL;
    OPTIONAL.forEach(function (name) {
      const row = ticket.querySelector('[data-field-row="' + name + '"]');
      if (row) row.hidden = !wanted.includes(name);
    });
    const side = ticket.querySelector("[name=side]:checked");
    const button = document.getElementById("ticket-submit");
    if (side && button) {
      button.classList.toggle("sell", side.value === "SELL");
      button.textContent = (side.value === "SELL" ? "Sell " : "Buy ") +
        (ticket.querySelector("[name=symbol]").value || "").toUpperCase();
    }
  }

  document.addEventListener("change", function (e) {
    if (e.target.closest("#order-ticket")) fitTicket();
  });
  document.addEventListener("input", function (e) {
    if (e.target.name === "symbol" && e.target.closest("#order-ticket")) fitTicket();
  });
  document.addEventListener("htmx:afterSettle", function () { fitTicket(); watchPrices(); });

  function refresh(id) { if (window.platformEvents) window.platformEvents.refreshPartial(id); }

  document.addEventListener("platform:order.update", function () {
    refresh("open-orders");
    refresh("order-history");
  });
  document.addEventListener("platform:fill.new", function () { refresh("fills"); });
  document.addEventListener("platform:position.update", function () { refresh("positions"); });

  // Position symbols, subscribed again whenever the positions table is re-rendered.
  let watched = "";
  function watchPrices() {
    const rows = document.querySelectorAll("[data-position-symbol]");
    const symbols = [...new Set(Array.from(rows, (row) => row.dataset.positionSymbol))].sort();
    if (!symbols.length || !window.platformEvents || symbols.join() === watched) return;
    watched = symbols.join();
    window.platformEvents.subscribe(symbols);
  }

  function decimals(text) {
    const dot = text.indexOf(".");
    return dot < 0 ? 0 : text.length - dot - 1;
  }

  function show(cell, text) {
    if (cell.textContent === text) return;
    cell.textContent = text;
    cell.classList.remove("flash");
    void cell.offsetWidth;  // restart the flash animation
    cell.classList.add("flash");
  }

  document.addEventListener("platform:price.update", function (e) {
    const symbol = e.detail.symbol;
    const price = e.detail.price;
    if (!price) return;
    document.querySelectorAll('[data-position-symbol="' + symbol + '"]').forEach(function (row) {
      const quantity = Number(row.dataset.quantity);
      const cost = Number(row.dataset.cost);
      const pnl = quantity * Number(price) - cost;
      show(row.querySelector('[data-field="last-price"]'), price);
      const cell = row.querySelector('[data-field="unrealised"]');
      show(cell, pnl.toFixed(Math.min(8, Math.max(2, decimals(price)))));
      cell.classList.toggle("ok", pnl >= 0);
      cell.classList.toggle("bad", pnl < 0);
    });
  });

  fitTicket();
  watchPrices();
})();
