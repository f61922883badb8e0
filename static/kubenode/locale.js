// Every page: the language switcher changes language on selection (the button stays for pages without script),
// and the browser's time zone goes to the server in the kn_tz cookie (times are shown in it; kubenode.locale).
(function () {
  "use strict";
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("kn_tz=" + encodeURIComponent(zone)) === -1) {
      document.cookie = "kn_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* no Intl: the configured default zone */ }
  document.addEventListener("change", function (event) {
    if (event.target && event.target.id === "kn-language-select") { event.target.form.requestSubmit(); }
  });
}());
