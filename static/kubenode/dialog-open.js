/* Opens the dialog of the batch this page started (#kn-open-task) with the keyboard focus in it, and reads the page's
   content again once the batch has finished, so what it shows is the nodes' new state. */
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
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("content-main");
        var now = document.getElementById("content-main");
        if (now && next) now.replaceWith(document.importNode(next, true));
      })
      .catch(function () { /* stays as it was; a reload shows the new state */ });
  });
})();
