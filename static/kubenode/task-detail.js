/*
 * The task page, live: counts, bar and node rows follow the batch as it runs (KubenodeProgress.watch, from the seq
 * the page was rendered with); when the final message arrives the page's status, buttons and timeline are read
 * again from the server, so what it says after a Cancel or at the end is the task's own word. No framework.
 */
(function () {
  "use strict";
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
  function utcNow() {
    var d = new Date();
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
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
      counts.textContent = c.done + " of " + c.total + " done: " + c.succeeded + " succeeded, " + c.failed +
        " failed" + (s.final ? "." : ", " + Math.max(0, c.total - c.done) + " remaining.");
    }
    var status = document.getElementById("kn-task-status");
    if (status && !s.final && c.done > 0 && status.textContent === "pending") {
      status.textContent = "running";
      status.className = "kn-status kn-status-running";
    }
    Object.keys(s.nodes).forEach(function (name) {
      var n = s.nodes[name], key = n.outcome + "|" + n.error, tr = rows[name];
      if (!tr || shown[name] === key) return;
      shown[name] = key;
      tr.className = "kn-outcome-" + n.outcome;
      tr.querySelector(".kn-outcome").textContent = n.outcome;
      tr.querySelector(".kn-error").textContent = n.error || "";
      tr.querySelector(".kn-at").textContent = utcNow();
    });
    if (s.final) refresh();
  });
})();
