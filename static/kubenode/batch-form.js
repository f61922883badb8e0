/*
 * The batch form (node list) and the preview form: only the fields of the chosen action are shown; the node list's
 * selection is counted, restored when the page comes back from a preview or a batch, and the list is read again
 * when a batch it started has finished. No framework, no CDN; without JavaScript every field stays in the form.
 */
(function () {
  "use strict";
  // Translations: Django's JavaScript catalog (/i18n/catalog.js, loaded by every page); English without it.
  var gettext = window.gettext || function (s) { return s; };
  var ngettext = window.ngettext || function (s, p, n) { return n === 1 ? s : p; };
  var interpolate = window.interpolate || function (fmt, obj) {
    return fmt.replace(/%\((\w+)\)s/g, function (m, k) { return String(obj[k]); });
  };
  var form = document.getElementById("kn-batch") || document.getElementById("kn-preview");
  if (!form) return;
  var action = form.querySelector('select[name="action"]');
  var all = document.getElementById("select_all");
  var counter = document.getElementById("selected-count");

  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll('input[type="checkbox"][name="node"]'));
  }
  function update() {
    if (!counter) return;
    var n = boxes().filter(function (b) { return b.checked; }).length;
    counter.textContent = all && all.checked ? gettext("all matching nodes selected") :
      interpolate(ngettext("%(count)s selected", "%(count)s selected", n),
                  { count: window.KubenodeLocale ? KubenodeLocale.count(n) : n }, true);
  }

  // Only the fields of the chosen action are shown; the taint box says whether taints are added or removed.
  function showFields() {
    if (!action) return;
    Array.prototype.forEach.call(form.querySelectorAll("[data-for]"), function (el) {
      el.hidden = el.getAttribute("data-for").split(" ").indexOf(action.value) < 0;
    });
    var taints = form.querySelector('input[name="taints"]');
    if (taints) {
      var removal = action.value === "untaint" || action.value === "unlabel";
      var label = form.querySelector('label[for="' + taints.id + '"]');
      var help = document.getElementById(taints.id + "_helptext");
      if (label) label.textContent = taints.getAttribute(removal ? "data-label-remove" : "data-label-add");
      if (help) help.textContent = taints.getAttribute(removal ? "data-help-remove" : "data-help-add");
    }
  }
  if (action) {
    action.addEventListener("change", showFields);
    showFields();
  }

  // The selection as it was (after Cancel on the preview, Back on an error, or a batch): boxes ticked again.
  function restoreSelection(names) {
    var wanted = {};
    names.forEach(function (n) { wanted[n] = true; });
    boxes().forEach(function (b) { if (wanted[b.value]) b.checked = true; });
    update();
  }
  function selectedNames() {
    return boxes().filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
  }
  if (form.id === "kn-batch") {
    document.addEventListener("change", function (ev) {  // delegated: the table may be replaced
      var t = ev.target;
      if (t && t.id === "select-page") boxes().forEach(function (b) { b.checked = t.checked; });
      if (t && (t.id === "select-page" || t.name === "node" || t === all)) update();
    });
    try { restoreSelection(JSON.parse(form.getAttribute("data-selected") || "[]")); } catch (e) { update(); }
    // Boxes of a table outside the form that do not name it (form="kn-batch") still count: posted as hidden fields.
    form.addEventListener("submit", function () {
      Array.prototype.forEach.call(form.querySelectorAll("input[data-kn-carried]"), function (i) { i.remove(); });
      boxes().forEach(function (b) {
        if (b.checked && b.form !== form) {
          var i = document.createElement("input");
          i.type = "hidden"; i.name = "node"; i.value = b.value; i.setAttribute("data-kn-carried", "1");
          form.appendChild(i);
        }
      });
    });

    // After a batch started here: its dialog, and the list read again once it has finished (the nodes changed).
    var task = form.getAttribute("data-open-task");
    if (task && window.KubenodeProgress) {
      KubenodeProgress.open(task, { title: form.getAttribute("data-task-title"),
                                    cluster: form.getAttribute("data-task-cluster"), focus: true });
      document.addEventListener("kubenode:complete", function (ev) {
        if (ev.detail && ev.detail.task === task) refreshList();
      });
    }
  }

  function refreshList() {
    var url = new URL(location.href);
    url.searchParams.delete("task");
    fetch(url.toString(), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var keep = selectedNames();
        [document.getElementById("kn-node-table") ? "kn-node-table" : "result_list"]
          .concat(Array.prototype.map.call(document.querySelectorAll("[data-kn-refresh][id]"),
                                           function (e) { return e.id; }))
          .forEach(function (id) {
            var now = document.getElementById(id), next = fresh.getElementById(id);
            if (now && next) now.replaceWith(document.importNode(next, true));
          });
        restoreSelection(keep);
        document.dispatchEvent(new CustomEvent("kubenode:list-refreshed"));
      })
      .catch(function () { /* the list stays as it was; a reload shows the new state */ });
  }
})();
