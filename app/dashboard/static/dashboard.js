// Live refresh: every few seconds, re-fetch this page and swap in its #live part. No framework, no build.
(function () {
  "use strict";
  function refresh(live) {
    if (document.hidden) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "refresh" } })
      .then(function (response) {
        if (response.redirected || !response.ok) return null;
        return response.text();
      })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (fresh) live.replaceChildren.apply(live, Array.from(fresh.childNodes));
      })
      .catch(function () { /* the next tick tries again */ });
  }
  function confirmations(event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  }
  document.addEventListener("submit", confirmations, true);
  document.addEventListener("DOMContentLoaded", function () {
    var live = document.getElementById("live");
    if (!live) return;
    var seconds = parseInt(live.dataset.refresh || "5", 10);
    window.setInterval(function () { refresh(live); }, seconds * 1000);
  });
})();
