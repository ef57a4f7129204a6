// team-table dashboard: the one connection to the hub's stream for dashboards (/ui/events), as a function that
// a SharedWorker (live-worker.js), a leader tab or, failing both, each tab runs. `emit` gets plain messages:
// {type: "connected" | "changed" (with kind) | "down" | "refused" | "ended"}.
/* exported openStream */
function openStream(url, emit) {
  "use strict";
  var source = new EventSource(url);
  source.addEventListener("connected", function () { emit({ type: "connected" }); });
  source.addEventListener("changed", function (event) {
    var kind = "";
    try { kind = JSON.parse(event.data).kind || ""; } catch (e) { kind = ""; }
    emit({ type: "changed", kind: kind });
  });
  source.addEventListener("ended", function () {  // signed out elsewhere, revoked, expired
    source.close();
    emit({ type: "ended" });
  });
  source.onerror = function () {  // a drop reconnects by itself (with Last-Event-ID); a refusal does not
    emit({ type: source.readyState === EventSource.CLOSED ? "refused" : "down" });
  };
  return source;
}
