/*
 * The task page, live: counts, bar and node rows follow the batch as it runs (KubenodeProgress.watch, from the seq
 * the page was rendered with); when the final message arrives the page's status, buttons and timeline are read
 * again from the server, so what it says after a Cancel or at the end is the task's own word. No framework.
 */
(function () {
  "use strict";
  // Translations: Django's JavaScript catalog (/i18n/catalog.js, loaded by every page); English without it.
  var gettext = window.gettext || function (s) { return s; };
  var ngettext = window.ngettext || function (s, p, n) { return n === 1 ? s : p; };
  var pgettext = window.pgettext || function (c, s) { return s; };
  var interpolate = window.interpolate || function (fmt, obj) {
    return fmt.replace(/%\((\w+)\)s/g, function (m, k) { return String(obj[k]); });
  };
  var root = document.querySelector(".kn-task[data-task]");
  if (!root || !window.KubenodeProgress) return;
  var id = root.dataset.task, cluster = root.dataset.cluster;

  var watchButton = document.getElementById("kn-watch");
  function bindWatch() {
    var b = document.getElementById("kn-watch");
    if (b) b.addEventListener("click", function () {
      KubenodeProgress.open(id, { cluster: cluster, focus: true,
                                  title: document.getElementById("kn-task-heading").textContent.split("—")[0].trim() });
    });
  }
  if (watchButton) bindWatch();
  if (!root.dataset.live) return;

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function utcNow() {  // as the page's own times: the language's date format, in the user's time zone
    var d = new Date(), lang = document.documentElement.lang || "en";
    if (lang.indexOf("en") === 0) {
      var zone = "";
      try {
        zone = new Intl.DateTimeFormat("en", { timeZoneName: "short" }).formatToParts(d)
          .filter(function (p) { return p.type === "timeZoneName"; }).map(function (p) { return " " + p.value; })
          .join("");
      } catch (e) { /* no Intl: no zone name */ }
      return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
        pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + zone;
    }
    try { return d.toLocaleString(lang); } catch (e) { return d.toISOString(); }
  }

  var rows = {};
  Array.prototype.forEach.call(root.querySelectorAll("tr[data-node]"), function (tr) { rows[tr.dataset.node] = tr; });
  var shown = {};  // node -> "outcome|error" already written
  var refreshed = false;

  function refresh() {
    if (refreshed) return;
    refreshed = true;
    fetch(location.pathname, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        ["kn-task-status", "kn-task-summary", "kn-task-buttons", "kn-timeline", "result_list"].forEach(function (key) {
          var now = document.getElementById(key), next = fresh.getElementById(key);
          if (now && next) now.replaceWith(document.importNode(next, true));
        });
        root.removeAttribute("data-live");
        bindWatch();
      })
      .catch(function () { refreshed = false; });
  }

  var initial = { lastSeq: parseInt(root.dataset.lastSeq, 10) || 0,
                  counters: { total: +root.dataset.total, done: +root.dataset.done, succeeded: +root.dataset.succeeded,
                              failed: +root.dataset.failed } };
  KubenodeProgress.watch(id, initial, function (s) {
    var c = s.counters;
    var fill = document.getElementById("kn-task-fill");
    if (fill) {
      fill.style.width = (c.total ? Math.round((100 * c.done) / c.total) : 0) + "%";
      fill.parentNode.setAttribute("aria-valuenow", String(c.done));
    }
    var counts = document.getElementById("kn-task-counts");
    if (counts) {
      var count = function (n) { return window.KubenodeLocale ? KubenodeLocale.count(n) : String(n); };
      counts.textContent = interpolate(gettext("%(done)s of %(total)s done: %(succeeded)s succeeded, %(failed)s failed"),
                                       { done: count(c.done), total: count(c.total), succeeded: count(c.succeeded),
                                         failed: count(c.failed) }, true) +
        (s.final ? pgettext("end of sentence", ".") :
          interpolate(gettext(", %(remaining)s remaining"), { remaining: count(Math.max(0, c.total - c.done)) }, true) +
          pgettext("end of sentence", "."));
    }
    var status = document.getElementById("kn-task-status");
    if (status && !s.final && c.done > 0 && status.classList.contains("kn-status-pending")) {
      status.textContent = pgettext("outcome", "running");
      status.className = "kn-status kn-status-running";
    }
    Object.keys(s.nodes).forEach(function (name) {
      var n = s.nodes[name], key = n.outcome + "|" + n.error, tr = rows[name];
      if (!tr || shown[name] === key) return;
      shown[name] = key;
      tr.className = "kn-outcome-" + n.outcome;
      tr.querySelector(".kn-outcome").textContent = {
        succeeded: pgettext("outcome", "succeeded"), failed: pgettext("outcome", "failed"),
        skipped: pgettext("outcome", "skipped"), cancelled: pgettext("outcome", "cancelled"),
        processing: gettext("processing") }[n.outcome] || n.outcome;
      tr.querySelector(".kn-error").textContent = n.error || "";
      tr.querySelector(".kn-at").textContent = utcNow();
    });
    if (s.final) refresh();
  });
})();
