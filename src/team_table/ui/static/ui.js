// team-table dashboard: keeps the page live from the signed-in member's push stream, without polling.
// Any event re-reads this page and swaps it in (htmx keeps what is being typed: hx-preserve); the browser's
// EventSource reconnects after a drop with Last-Event-ID; a refused stream shows a reload link instead (or the
// sign-in page, when the session has ended).
(function () {
  "use strict";
  var url = document.body.dataset.stream;
  if (!url || !window.EventSource) return;
  var stream = new EventSource(url);
  var timer = null;
  var connectedOnce = false;

  function refresh() {
    timer = null;
    if (!window.htmx) { return; }
    window.htmx.ajax("GET", window.location.pathname + window.location.search,
      { target: "#app", select: "#app", swap: "outerHTML" });
  }

  function soon() {
    if (timer === null) timer = window.setTimeout(refresh, 150);
  }

  stream.addEventListener("connected", function () {
    if (connectedOnce) soon();  // back after a drop: what was missed may have changed the page
    connectedOnce = true;
    document.getElementById("live-status").hidden = true;
    document.body.dataset.live = "on";
  });
  ["message", "broadcast", "task_assigned", "task_updated", "task_comment", "escalation", "presence",
   "workflow", "config_reloaded", "config_error", "roles_changed"].forEach(function (kind) {
    stream.addEventListener(kind, soon);
  });
  stream.onerror = function () {
    if (stream.readyState !== EventSource.CLOSED) return;  // a drop: the browser reconnects by itself
    // Refused. If the session ended (signed out elsewhere, the token revoked), this page now redirects to the
    // sign-in page: go there. Otherwise say the page is no longer live, with a reload link.
    document.body.dataset.live = "off";
    window.fetch(window.location.href, { redirect: "manual", credentials: "same-origin" }).then(function (r) {
      if (r.type === "opaqueredirect") window.location.reload();
      else document.getElementById("live-status").hidden = false;
    }, function () { document.getElementById("live-status").hidden = false; });
  };
  document.body.addEventListener("htmx:responseError", function () {
    window.location.reload();  // the session ended meanwhile: the full page says so (the sign-in page)
  });
})();
