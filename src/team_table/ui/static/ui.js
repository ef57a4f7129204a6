// team-table dashboard: keeps the page live from the hub's push stream for dashboards, without polling.
// Each change on the table re-reads this page and swaps it in (htmx keeps what is being typed, hx-preserve,
// and the focus of elements with an id); the browser's EventSource reconnects after a drop with
// Last-Event-ID; a refused stream shows a reload link, and an ended session goes to the sign-in page.
(function () {
  "use strict";
  var url = document.body.dataset.stream;
  if (!url || !window.EventSource) return;
  var stream = new EventSource(url);
  var timer = null;

  function refresh() {
    timer = null;
    if (!window.htmx) return;
    window.htmx.ajax("GET", window.location.pathname + window.location.search,
      { target: "#app", select: "#app", swap: "outerHTML" });
  }

  function soon() {
    if (timer === null) timer = window.setTimeout(refresh, 150);
  }

  function stopped() {
    document.body.dataset.live = "off";
    document.getElementById("live-status").hidden = false;
  }

  stream.addEventListener("connected", function () {
    document.getElementById("live-status").hidden = true;
    document.body.dataset.live = "on";
  });
  stream.addEventListener("changed", soon);
  stream.addEventListener("ended", function () {  // signed out elsewhere, revoked, expired
    stream.close();
    window.location.reload();
  });
  stream.onerror = function () {
    if (stream.readyState === EventSource.CLOSED) stopped();  // refused; a drop reconnects by itself
  };
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var landed = event.detail.xhr && event.detail.xhr.responseURL;
    if (landed && landed.indexOf("/ui/signin") !== -1) {  // the session ended: the whole page says so
      event.detail.shouldSwap = false;
      window.location.assign(landed);
    }
  });
  document.body.addEventListener("htmx:afterSwap", function () {
    var note = document.getElementById("live-note");
    if (note) note.textContent = "Updated " + new Date().toLocaleTimeString();
  });
  document.body.addEventListener("htmx:responseError", function () { window.location.reload(); });
})();
