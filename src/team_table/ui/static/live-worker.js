// team-table dashboard: one stream per browser, shared by all its tabs (a browser gives a host six connections
// over HTTP/1.1; a stream per tab froze the seventh). Every tab of the dashboard connects to this worker.
importScripts("/ui/static/live.js");
var ports = [];
var source = null;
var last = null;  // the stream's state, for a tab that connects later

function emit(message) {
  if (message.type !== "changed") last = message;
  ports.forEach(function (port) { port.postMessage(message); });
  if (message.type === "ended" || message.type === "refused") {
    if (source) source.close();
    source = null;
    last = null;
  }
}

self.onconnect = function (event) {
  var port = event.ports[0];
  ports.push(port);
  port.onmessage = function (message) {
    var data = message.data || {};
    if (data.type === "start") {
      if (source === null) source = openStream(data.url, emit);
      else if (last) port.postMessage(last);
    } else if (data.type === "bye") {
      ports = ports.filter(function (p) { return p !== port; });
      if (ports.length === 0 && source) { source.close(); source = null; last = null; }
    }
  };
  port.start();
};
