/* Node list: select every node on the page, and show how many are selected. No framework, no CDN. */
(function () {
  "use strict";
  var page = document.getElementById("select-page");
  var all = document.getElementById("select_all");
  var counter = document.getElementById("selected-count");
  function boxes() { return Array.prototype.slice.call(document.querySelectorAll('input[name="node"]')); }
  function update() {
    var n = boxes().filter(function (b) { return b.checked; }).length;
    if (counter) counter.textContent = all && all.checked ? "all matching nodes selected" : n + " selected";
  }
  if (page) page.addEventListener("change", function () {
    boxes().forEach(function (b) { b.checked = page.checked; });
    update();
  });
  document.addEventListener("change", function (ev) {
    if (ev.target && (ev.target.name === "node" || ev.target === all)) update();
  });
  update();

  // Only the fields of the chosen action are shown (all of them stay in the form without JavaScript).
  var action = document.getElementById("action");
  function showFields() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-for]"), function (el) {
      el.hidden = el.getAttribute("data-for").split(" ").indexOf(action.value) < 0;
    });
  }
  if (action) {
    action.addEventListener("change", showFields);
    showFields();
  }
})();
