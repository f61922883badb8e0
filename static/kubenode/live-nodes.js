/*
 * Live node pages: the node list and a node's detail page follow their cluster's shared watch through the
 * WebSocket /ws/progress/ (frames "nodes.*", see nodes/live.py). Rows on the page are updated in place; when
 * nodes enter the filtered list, leave it, or the page may have missed changes, the table (or the node) is read
 * again from the server with the same filters, sort and page, keeping what was selected. No framework, no CDN.
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
  var cfgEl = document.getElementById("kn-live-config");
  if (!cfgEl || !window.WebSocket) return;
  var cfg = JSON.parse(cfgEl.textContent);
  var badge = document.getElementById("kn-live");
  var ws = null, backoff = 1000, refreshTimer = null, version = cfg.version, fetching = false, again = false;
  var announcer = document.createElement("div");
  announcer.className = "visually-hidden";
  announcer.setAttribute("aria-live", "polite");
  document.body.appendChild(announcer);

  var STATES = { live: gettext("live"), reconnecting: gettext("reconnecting to the cluster…"),
                 starting: gettext("connecting…"), off: gettext("not live (reconnecting…)") };
  function setState(state, error) {
    if (!badge) return;
    badge.dataset.state = state;
    var text = badge.querySelector(".kn-live-text");
    if (text) text.textContent = STATES[state] || state;
    badge.title = error || "";
  }

  function table() { return document.getElementById("kn-node-table"); }
  function names() {
    return Array.prototype.map.call(document.querySelectorAll("#kn-node-table tbody tr[data-node]"),
                                    function (tr) { return tr.dataset.node; });
  }
  function send(frame) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame)); }
  function subscribe(afterRefresh) {
    // the page's version is sent when it was made before this subscription (a load, a reconnect): the server says
    // "resync" if the watch has moved on since; after reading the table again the table is current already
    var frame = { type: "nodes.watch", cluster: cfg.cluster, language: document.documentElement.lang || "" };
    if (!afterRefresh && version !== null && version !== undefined) frame.version = version;
    if (cfg.node) frame.node = cfg.node; else { frame.names = names(); frame.filter = cfg.filter; }
    send(frame);
  }

  function row(name) {
    return document.querySelector('#kn-node-table tr[data-node="' + (window.CSS && CSS.escape ? CSS.escape(name) : name) + '"]');
  }
  function flash(el) {
    el.classList.remove("kn-flash");
    void el.offsetWidth;  // restart the animation
    el.classList.add("kn-flash");
  }
  function applyRows(frame) {
    var changed = [];
    Object.keys(frame.rows || {}).forEach(function (name) {
      var tr = row(name), data = frame.rows[name];
      if (!tr) return;
      var cells = data.cells, touched = false;
      Object.keys(cells).forEach(function (col) {
        var td = tr.querySelector(".kn-col-" + col);
        if (td && td.innerHTML !== cells[col]) { td.innerHTML = cells[col]; flash(td); touched = true; }
      });
      tr.className = "kn-row-" + data.status.toLowerCase() + (data.schedulable ? "" : " kn-row-cordoned");
      tr.classList.remove("kn-row-left");
      if (touched) changed.push(name + " " + data.status + (data.schedulable ? "" : pgettext("list separator", ", ") +
        gettext("cordoned")));
    });
    (frame.left || []).concat(frame.gone || []).forEach(function (name) {
      var tr = row(name);
      if (tr) { tr.classList.add("kn-row-left"); tr.title = (frame.gone || []).indexOf(name) >= 0 ?
        gettext("this node was deleted") : gettext("no longer matches the filter"); }
    });
    if (frame.counts) {
      Object.keys(frame.counts).forEach(function (key) {
        Array.prototype.forEach.call(document.querySelectorAll('.kn-status-count[data-status="' + key + '"]'),
                                     function (el) {
          el.textContent = window.KubenodeLocale ? KubenodeLocale.count(frame.counts[key]) : frame.counts[key];
        });
      });
    }
    if (changed.length) {
      announcer.textContent = changed.length > 3 ?
        interpolate(gettext("%(count)s nodes changed"),
                    { count: window.KubenodeLocale ? KubenodeLocale.count(changed.length) : changed.length }, true) :
        interpolate(gettext("Changed: %(what)s"), { what: changed.join(pgettext("list separator", "; ")) }, true);
    }
    if (frame.entered || (frame.left || []).length || (frame.gone || []).length) scheduleRefresh(1500);
  }

  function scheduleRefresh(delay) {
    if (refreshTimer) return;
    refreshTimer = setTimeout(function () { refreshTimer = null; refresh(); }, delay || 300);
  }
  function keepState(root) {
    var state = { checked: {}, open: [] };
    Array.prototype.forEach.call(root.querySelectorAll('input[name="node"]:checked'),
                                 function (b) { state.checked[b.value] = true; });
    Array.prototype.forEach.call(root.querySelectorAll("details[open]"), function (d, i) {
      var tr = d.closest("tr"); state.open.push((tr ? tr.dataset.node : "") + "|" + (d.id || d.className));
    });
    state.pageChecked = !!(document.getElementById("select-page") || {}).checked;
    return state;
  }
  function restoreState(root, state) {
    Array.prototype.forEach.call(root.querySelectorAll('input[name="node"]'), function (b) {
      if (state.checked[b.value]) b.checked = true;
    });
    Array.prototype.forEach.call(root.querySelectorAll("details"), function (d) {
      var tr = d.closest("tr");
      if (state.open.indexOf((tr ? tr.dataset.node : "") + "|" + (d.id || d.className)) >= 0) d.open = true;
    });
    var page = document.getElementById("select-page");
    if (page) {
      page.addEventListener("change", function () {
        Array.prototype.forEach.call(document.querySelectorAll('input[name="node"]'), function (b) {
          b.checked = page.checked;
        });
        var first = document.querySelector('input[name="node"]');
        if (first) first.dispatchEvent(new Event("change", { bubbles: true }));
      });
    }
    var first = root.querySelector('input[name="node"]');
    if (first) first.dispatchEvent(new Event("change", { bubbles: true }));  // the selection counter
  }
  function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    var url = new URL(window.location.href);
    url.searchParams.delete("task");
    fetch(url.toString(), { credentials: "same-origin",
                            headers: { "X-Requested-With": "fetch", "X-Kubenode-Partial": cfg.node ? "main" : "table" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        if (cfg.node) {
          var main = document.getElementById("kn-node-main");
          if (main) { var kept = keepState(main); main.innerHTML = html; restoreState(main, kept); flash(main); }
          announcer.textContent = interpolate(gettext("Node %(name)s changed"), { name: cfg.node }, true);
        } else {
          var old = table();
          if (!old) return;
          var kept = keepState(old);
          var holder = document.createElement("div");
          holder.innerHTML = html;
          var fresh = holder.querySelector("#kn-node-table");
          if (!fresh) return;
          old.parentNode.replaceChild(fresh, old);
          if (fresh.dataset.version) version = parseInt(fresh.dataset.version, 10) || version;
          restoreState(fresh, kept);
          if (window.KubenodeTable) window.KubenodeTable.apply();
          subscribe(true);
        }
      })
      .catch(function () { /* the next change or reconnect tries again */ })
      .then(function () { fetching = false; if (again) { again = false; scheduleRefresh(300); } });
  }

  function connect() {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    try { ws = new WebSocket(proto + location.host + "/ws/progress/"); } catch (e) { retry(); return; }
    ws.onopen = function () { backoff = 1000; subscribe(false); };
    ws.onmessage = function (ev) {
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (!frame.type || frame.type.indexOf("nodes.") !== 0) return;
      if (frame.type === "nodes.state") { setState(frame.state, frame.error); }
      else if (frame.type === "nodes.rows") { setState(frame.state, frame.error); version = frame.version; applyRows(frame); }
      else if (frame.type === "nodes.node") { setState(frame.state || "live"); version = frame.version; scheduleRefresh(200); }
      else if (frame.type === "nodes.resync") { scheduleRefresh(200); }
      else if (frame.type === "nodes.error") { setState("off", frame.error); }
    };
    ws.onclose = function () { ws = null; setState("off"); retry(); };
  }
  function retry() {
    setTimeout(function () { connect(); scheduleRefresh(100); }, backoff);
    backoff = Math.min(backoff * 2, 30000);
  }
  connect();
})();
