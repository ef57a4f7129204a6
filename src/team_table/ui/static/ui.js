// team-table dashboard: keeps a page live without polling. One stream per browser (a SharedWorker, else a leader
// tab chosen with a Web Lock that relays on a BroadcastChannel, else a stream of the tab's own). On a change of a
// kind this page shows, it asks for itself with the versions of its parts and swaps in only the parts that
// changed, keeping what the person typed, ticked, chose and had focused. Notices stay until dismissed. It never
// reloads: a refused action already landed on a plain GET page, so nothing is ever sent twice.
(function () {
  "use strict";
  var body = document.body;
  var url = body.dataset.stream;
  var kinds = (body.dataset.kinds || "").split(/\s+/).filter(Boolean);
  var timer = null, busy = false, again = false, lastRefresh = 0, downSince = null, connectedOnce = false;

  function wireDismiss(root) {
    root.querySelectorAll("[data-dismiss]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var notice = button.closest(".flash");
        if (notice) notice.remove();
      });
    });
  }

  function refreshTimes() {
    var now = Date.now();
    document.querySelectorAll("time[data-ago]").forEach(function (t) {
      var seconds = Math.max(0, Math.floor((now - Date.parse(t.getAttribute("datetime"))) / 1000));
      var words = seconds + " s ago";
      [[86400, "d"], [3600, "h"], [60, "min"]].some(function (unit) {
        if (seconds >= unit[0]) { words = Math.floor(seconds / unit[0]) + " " + unit[1] + " ago"; return true; }
        return false;
      });
      if (!isNaN(seconds)) t.textContent = words;
    });
  }

  function count() {
    var badge = document.getElementById("badge");
    return badge ? parseInt(badge.dataset.count, 10) || 0 : 0;
  }

  // Desktop notifications: opt-in, per browser.
  var desktopKey = "team-table-desktop";
  function desktopOn() {
    return window.Notification && Notification.permission === "granted" && localStorage.getItem(desktopKey) === "on";
  }
  function desktopLabel(button) {
    button.textContent = desktopOn() ? "Desktop notifications are on (turn off)" : "Tell me on this computer too";
  }
  function setupDesktop() {
    var button = document.getElementById("desktop-notify");
    if (!button || !window.Notification) return;
    button.hidden = false;
    desktopLabel(button);
    button.addEventListener("click", function () {
      if (desktopOn()) { localStorage.removeItem(desktopKey); desktopLabel(button); return; }
      Promise.resolve(Notification.requestPermission()).then(function (answer) {
        if (answer === "granted") localStorage.setItem(desktopKey, "on");
        desktopLabel(button);
      });
    });
  }
  function tellDesktop(now) {
    if (!desktopOn()) return;
    var shown = new Notification("team-table: " + now + " need" + (now === 1 ? "s" : "") + " you",
      { body: "A decision is waiting on Needs you.", tag: "team-table-needs-you" });
    shown.onclick = function () { window.focus(); window.location.assign("/ui"); };
  }

  function setLive(state, words) {
    body.dataset.live = state;
    var banner = document.getElementById("live-status");
    if (!banner) return;
    banner.hidden = state === "on";
    if (words) document.getElementById("live-words").textContent = words;
  }

  function controlsOf(root) {
    var state = {};
    root.querySelectorAll("input, select, textarea").forEach(function (c) {
      if (c.id && c.type !== "hidden") state[c.id] = { value: c.value, checked: c.checked };
    });
    return state;
  }

  function restore(state) {
    Object.keys(state).forEach(function (id) {
      var c = document.getElementById(id);
      if (!c) return;
      if (c.type === "checkbox" || c.type === "radio") c.checked = state[id].checked;
      else if (c.tagName === "SELECT") {
        if (Array.prototype.some.call(c.options, function (o) { return o.value === state[id].value; })) {
          c.value = state[id].value;
        }
      } else c.value = state[id].value;
    });
  }

  function swap(old, fresh) {
    var active = document.activeElement;
    var focused = active && old.contains(active) && active.id ? active.id : null;
    var caret = focused && typeof active.selectionStart === "number" ? [active.selectionStart, active.selectionEnd] : null;
    var state = controlsOf(old);
    old.innerHTML = fresh.innerHTML;  // markup of the hub's own pages (autoescaped); no script runs from it
    old.dataset.version = fresh.dataset.version;
    restore(state);
    wireDismiss(old);
    if (focused) {
      var again_ = document.getElementById(focused);
      if (again_) {
        again_.focus();
        if (caret && again_.setSelectionRange) try { again_.setSelectionRange(caret[0], caret[1]); } catch (e) { /* */ }
      }
    }
  }

  function apply(html) {
    var before = count();
    var doc = new DOMParser().parseFromString(html, "text/html");
    doc.querySelectorAll("[data-part]").forEach(function (fresh) {
      var old = document.getElementById(fresh.id);
      if (old && old.dataset.version !== fresh.dataset.version) swap(old, fresh);
    });
    if (doc.title) document.title = doc.title;
    refreshTimes();
    var now = count();
    if (now > before) {  // the one thing worth saying aloud: a new decision waits
      document.getElementById("live-note").textContent = now + " need" + (now === 1 ? "s" : "") + " you";
      tellDesktop(now);
    }
  }

  function refresh() {
    timer = null;
    if (busy) { again = true; return; }
    busy = true;
    lastRefresh = Date.now();
    var held = [];
    document.querySelectorAll("[data-part]").forEach(function (el) { held.push(el.id + "=" + el.dataset.version); });
    fetch(window.location.href, { headers: { "X-Parts": held.join(";") }, credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected && response.url.indexOf("/ui/signin") !== -1) {
          window.location.assign(response.url);  // the session ended: the whole page says so
          return null;
        }
        if (!response.ok) {
          setLive("stale", "This page could not be brought up to date (" + response.status + ").");
          return null;
        }
        return response.text();
      })
      .then(function (html) { if (html) apply(html); })
      .catch(function () { setLive("down", "The hub cannot be reached: what you see may be out of date."); })
      .then(function () {
        busy = false;
        if (again) { again = false; soon(); }
      });
  }

  function soon() {  // a burst of events is one refresh, at most one a second
    if (timer !== null) return;
    timer = window.setTimeout(refresh, Math.max(150, lastRefresh + 1000 - Date.now()));
  }

  function hear(message) {
    if (message.type === "connected") {
      var was = downSince || connectedOnce;  // back after an outage, or a new stream (another tab took it over)
      downSince = null;
      connectedOnce = true;
      setLive("on");
      if (was) soon();  // what happened meanwhile
    } else if (message.type === "down") {
      if (!downSince) downSince = new Date();
      setLive("down", "The hub cannot be reached since " + downSince.toLocaleTimeString() +
        ": what you see may be out of date. The page reconnects by itself.");
    } else if (message.type === "refused") {
      setLive("off", "Live updates stopped.");
    } else if (message.type === "ended") {
      window.location.assign(window.location.href);  // a GET: to the sign-in page
    } else if (message.type === "changed") {
      if (message.kind === "missed" || kinds.indexOf(message.kind) !== -1) soon();
    }
  }

  function viaWorker() {
    var worker = new SharedWorker("/ui/static/live-worker.js", { name: "team-table-live" });
    worker.port.onmessage = function (event) { hear(event.data); };
    worker.port.start();
    worker.port.postMessage({ type: "start", url: url });
    window.addEventListener("pagehide", function () { worker.port.postMessage({ type: "bye" }); });
  }

  function viaLeader() {  // no SharedWorker (some mobile browsers): one tab holds the stream and relays it
    var channel = new BroadcastChannel("team-table-live");
    var last = null;
    channel.onmessage = function (event) {
      if (event.data.type === "hello") { if (last) channel.postMessage(last); return; }
      hear(event.data);
    };
    navigator.locks.request("team-table-live", function () {
      return new Promise(function () {  // held while this tab lives; the next tab takes over when it goes
        openStream(url, function (message) {
          if (message.type !== "changed") last = message;
          hear(message);
          channel.postMessage(message);
        });
      });
    });
    channel.postMessage({ type: "hello" });
  }

  wireDismiss(document);
  refreshTimes();
  window.setInterval(refreshTimes, 30000);
  setupDesktop();
  if (!url || !window.EventSource) return;
  try {
    if (window.SharedWorker) { viaWorker(); return; }
  } catch (e) { /* a browser that refuses the worker: the next way */ }
  if (window.BroadcastChannel && navigator.locks) viaLeader();
  else openStream(url, hear);
})();
