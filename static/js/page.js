// Small behaviours any page may use, bound here because the Content-Security-Policy allows no
// inline handlers (onclick="..."): mark the element with a data attribute instead.
(function () {
  "use strict";
  // data-select-on-click: a read-only field whose whole value one click selects (a new token).
  document.addEventListener("click", function (e) {
    const field = e.target.closest("[data-select-on-click]");
    if (field && field.select) field.select();
  });
})();
