/* Opens the dialog of the batch this page started (#kn-open-task) with the keyboard focus in it, and reads the parts
   of the page the batch changed again once it has finished (labels, taints, the audit history, and any element
   marked data-kn-refresh), so what it shows is the node's new state. */
(function () {
  "use strict";
  var spec = document.getElementById("kn-open-task");
  if (!spec || !window.KubenodeProgress) return;
  var task = spec.dataset.task;
  KubenodeProgress.open(task, { title: spec.dataset.title, cluster: spec.dataset.cluster, focus: true });
  document.addEventListener("kubenode:complete", function (ev) {
    if (!ev.detail || ev.detail.task !== task) return;
    var url = new URL(location.href);
    url.searchParams.delete("task");
    fetch(url.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var ids = ["labels", "taints", "audit"].concat(Array.prototype.map.call(
          document.querySelectorAll("[data-kn-refresh][id]"), function (e) { return e.id; }));
        ids.forEach(function (id) {
          var now = document.getElementById(id), next = fresh.getElementById(id);
          if (now && next) now.replaceWith(document.importNode(next, true));
        });
      })
      .catch(function () { /* stays as it was; a reload shows the new state */ });
  });
})();
