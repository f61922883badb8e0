/* Live bars for the running batches of the task list (KubenodeProgress.watch; no framework). */
(function () {
  "use strict";
  var pgettext = window.pgettext || function (c, s) { return s; };
  // the status filter applies when chosen (no inline handler: the Content-Security-Policy forbids them)
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  document.querySelectorAll("tr[data-active]").forEach(function (row) {
    var id = row.dataset.task;
    var initial = {
      lastSeq: parseInt(row.dataset.lastSeq, 10) || 0,
      counters: { total: +row.dataset.total, done: +row.dataset.done, succeeded: +row.dataset.succeeded,
                  failed: +row.dataset.failed }
    };
    KubenodeProgress.watch(id, initial, function (s) {
      var c = s.counters;
      row.querySelector(".kn-progress-fill").style.width = (c.total ? Math.round((100 * c.done) / c.total) : 0) + "%";
      var count = function (n) { return window.KubenodeLocale ? KubenodeLocale.count(n) : String(n); };
      row.querySelector(".kn-done").textContent = count(c.done) + " / " + count(c.total);
      row.querySelector(".kn-succeeded").textContent = count(c.succeeded);
      row.querySelector(".kn-failed").textContent = count(c.failed);
      var cell = row.querySelector(".kn-status"), text = pgettext("outcome", "running"), status = "running";
      if (s.final) {
        text = KubenodeProgress.finalText(s.final);
        status = { cancelled: "cancelled", interrupted: "interrupted", error: "failed" }[s.final.type] ||
          (s.final.failed ? "failed" : "succeeded");
      }
      cell.textContent = text;
      cell.className = "kn-status kn-status-" + status;
    });
  });
})();
