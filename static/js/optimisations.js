// Optimisation pages: progress bars that follow `optimisation.progress` events (the chunks
// done counted from the progress: it is chunks done / chunks), the row or run partial fetched
// again when a run's status changes, and the form's fields that only some searches use. The
// stitched walk-forward equity is drawn by backtests.js (an equity chart like a backtest's).
(function () {
  "use strict";

  // Holders carry data-optimisation-id, data-status, data-chunk-count and (with an id)
  // data-partial-url: a row on the list, the run's body on its page.
  document.addEventListener("platform:optimisation.progress", function (e) {
    const run = e.detail || {};
    document.querySelectorAll('[data-optimisation-id="' + run.id + '"]').forEach(function (holder) {
      const chunks = +holder.dataset.chunkCount || 0;
      holder.querySelectorAll("progress.run-progress").forEach(function (bar) {
        bar.value = run.progress;
      });
      holder.querySelectorAll("[data-progress-text]").forEach(function (text) {
        text.textContent = Math.round(run.progress * 100) + " %";
      });
      holder.querySelectorAll("[data-chunks-done]").forEach(function (text) {
        text.textContent = String(Math.round(run.progress * chunks));
      });
      holder.dataset.progress = String(run.progress);
      // The chunks are planned just after the run starts: a page that fetched the run before
      // then learns their count with the first chunk done.
      const unplanned = run.status === "running" && !chunks && run.progress > 0;
      if ((run.status !== holder.dataset.status || unplanned) && holder.id &&
          holder.dataset.partialUrl && window.platformEvents) {
        holder.dataset.status = run.status;
        window.platformEvents.refreshPartial(holder.id);
      }
    });
  });

  // --- the form: samples and seed for random search and walk-forward, the spans for
  // walk-forward only (the others are not sent: the form ignores them for other kinds).
  function fitKind(form) {
    const chosen = form.querySelector("[name=kind]:checked");
    if (!chosen) return;
    form.querySelectorAll("[data-kinds]").forEach(function (group) {
      group.hidden = !group.dataset.kinds.split(" ").includes(chosen.value);
    });
  }

  document.addEventListener("change", function (e) {
    const form = e.target.name === "kind" && e.target.closest("form[data-kind-fields]");
    if (form) fitKind(form);
  });
  document.querySelectorAll("form[data-kind-fields]").forEach(fitKind);
})();
