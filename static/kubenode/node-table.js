/* Node tables: the column chooser (remembered per table in this browser). No framework, no CDN. */
(function () {
  "use strict";
  function storageKey(table) { return "kubenode.columns." + (table.dataset.columnsKey || "nodes"); }
  function hidden(table) {
    try { return JSON.parse(localStorage.getItem(storageKey(table))) || []; } catch (e) { return []; }
  }
  function apply() {
    var table = document.querySelector("table.kn-nodes");
    var chooser = document.querySelector(".kn-columns");
    if (!table || !chooser) return;
    var off = hidden(table);
    chooser.hidden = false;
    Array.prototype.forEach.call(chooser.querySelectorAll("input[data-column]"), function (box) {
      var col = box.dataset.column;
      box.checked = off.indexOf(col) < 0;
      table.classList.toggle("kn-hide-" + col, !box.checked);
      if (!box.dataset.bound) {
        box.dataset.bound = "1";
        box.addEventListener("change", function () {
          var now = hidden(table).filter(function (c) { return c !== col; });
          if (!box.checked) now.push(col);
          try { localStorage.setItem(storageKey(table), JSON.stringify(now)); } catch (e) { /* private mode */ }
          table.classList.toggle("kn-hide-" + col, !box.checked);
        });
      }
    });
  }
  window.KubenodeTable = { apply: apply };
  apply();
})();
