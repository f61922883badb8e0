// Every page: the language switcher changes language on selection (the button stays for pages without script)
// without losing what the page holds: the values of its form fields (ticked nodes, typed labels, options) and its
// scroll position are kept for the same address and put back once it is read again in the other language. The
// browser's time zone goes to the server in the kn_tz cookie (times are shown in it; kubenode.locale).
// KubenodeLocale.count(n): a count as the page's language writes it, grouped as the server groups it (Django's
// formats for the language, from the JavaScript catalogue): en 12,345; zh-hans 12345. Only for text: numbers in
// attributes, addresses and JSON stay plain.
window.KubenodeLocale = window.KubenodeLocale || {
  count: function (n) {
    "use strict";
    var value = Number(n);
    if (n === null || n === undefined || n === "" || !isFinite(value)) return n === undefined ? "" : String(n);
    var grouped = true;  // no catalogue: English
    if (typeof window.get_format === "function") {
      var sep = window.get_format("THOUSAND_SEPARATOR"), size = Number(window.get_format("NUMBER_GROUPING"));
      grouped = typeof sep === "string" && sep !== "" && sep !== "THOUSAND_SEPARATOR" && size > 0;
    }
    try {
      return new Intl.NumberFormat(document.documentElement.lang || undefined,
                                   { useGrouping: grouped, maximumFractionDigits: 20 }).format(value);
    } catch (e) {
      return String(value);
    }
  }
};
(function () {
  "use strict";
  var KEY = "kubenode.page-state";
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("kn_tz=" + encodeURIComponent(zone)) === -1) {
      document.cookie = "kn_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* no Intl: the configured default zone */ }

  function fields() {
    return Array.prototype.filter.call(document.querySelectorAll("input, select, textarea"), function (f) {
      return !f.closest(".kn-language") && f.type !== "hidden" && f.type !== "password" && f.type !== "file" &&
        f.type !== "submit" && f.type !== "button";
    });
  }
  function keyOf(f, i) { return (f.form ? f.form.id || "" : "") + "|" + (f.id || f.name) + "|" + (f.id ? "" : i); }

  function save() {
    var state = { url: location.pathname + location.search, scroll: window.scrollY, values: {} };
    var seen = {};
    fields().forEach(function (f) {
      var base = (f.form ? f.form.id || "" : "") + "|" + (f.id || f.name), n = seen[base] = (seen[base] || 0) + 1;
      var k = keyOf(f, n);
      state.values[k] = f.type === "checkbox" || f.type === "radio" ? (f.checked ? f.value || "on" : null) : f.value;
    });
    try { sessionStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* private mode: nothing kept */ }
  }

  function restore() {
    var state;
    try { state = JSON.parse(sessionStorage.getItem(KEY) || "null"); sessionStorage.removeItem(KEY); } catch (e) {
      return;
    }
    if (!state || state.url !== location.pathname + location.search) return;
    var seen = {}, changed = [];
    fields().forEach(function (f) {
      var base = (f.form ? f.form.id || "" : "") + "|" + (f.id || f.name), n = seen[base] = (seen[base] || 0) + 1;
      var k = keyOf(f, n);
      if (!(k in state.values)) return;
      var v = state.values[k];
      if (f.type === "checkbox" || f.type === "radio") {
        if (f.checked !== (v !== null)) { f.checked = v !== null; changed.push(f); }
      } else if (f.value !== v) { f.value = v; changed.push(f); }
    });
    changed.forEach(function (f) { f.dispatchEvent(new Event("change", { bubbles: true })); });
    window.scrollTo(0, state.scroll || 0);
  }

  document.addEventListener("change", function (event) {
    if (event.target && event.target.id === "kn-language-select") { save(); event.target.form.requestSubmit(); }
  });
  document.addEventListener("submit", function (event) {
    if (event.target && event.target.classList && event.target.classList.contains("kn-language")) save();
  }, true);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", restore);
  else restore();
}());
