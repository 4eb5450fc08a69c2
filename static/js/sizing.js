// Forms with a sizing method (bots, backtests): show the one setting the chosen method uses.
(function () {
  "use strict";
  const SIZING_FIELDS = {
    fixed_quote: "sizing_amount",
    allocation_fraction: "sizing_fraction",
    risk_per_trade: "sizing_risk_fraction",
  };

  function fitSizing(form) {
    const method = form.querySelector("[name=sizing]");
    if (!method) return;
    Object.entries(SIZING_FIELDS).forEach(function ([name, field]) {
      const row = form.querySelector('[data-field-row="' + field + '"]');
      if (row) row.hidden = name !== method.value;
    });
  }

  document.addEventListener("change", function (e) {
    const form = e.target.name === "sizing" && e.target.closest("form[data-sizing]");
    if (form) fitSizing(form);
  });
  document.querySelectorAll("form[data-sizing]").forEach(fitSizing);
})();
