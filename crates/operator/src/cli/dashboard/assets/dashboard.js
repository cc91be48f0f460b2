// Sparkplane dashboard: live updates and the driver log. The server pushes a notice on /live when
// what it watches changes (on <app>/live when that application, its pods or its events change);
// the page then fetches its live part again (one request per change, at most one in flight). The
// log arrives line by line on an event stream and is added as text.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var badge = document.getElementById("live-state");
  var inFlight = false, again = false;

  function refresh() {
    if (!live) return;
    if (inFlight) { again = true; return; }
    inFlight = true;
    var url = live.getAttribute("data-live");
    url += (url.indexOf("?") < 0 ? "?" : "&") + "fragment=1";
    fetch(url, { headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) live.innerHTML = html; })
      .catch(function () {})
      .then(function () {
        inFlight = false;
        if (again) { again = false; refresh(); }
      });
  }

  if (window.EventSource) {
    // An application's page hears of its own changes only; the other pages of any change.
    var source = (live && live.getAttribute("data-changes")) || "/live";
    var changes = new EventSource(source);
    changes.addEventListener("changed", refresh);
    changes.onopen = function () { badge.className = "live-on"; badge.title = "updating as the cluster changes"; };
    changes.onerror = function () { badge.className = "live-off"; badge.title = "not connected; retrying"; };
  }

  var log = document.getElementById("log");
  if (log && window.EventSource) {
    var follow = document.getElementById("follow");
    var stream = new EventSource(log.getAttribute("data-src"));
    stream.addEventListener("line", function (e) {
      log.appendChild(document.createTextNode(e.data + "\n"));
      if (follow && follow.checked) log.scrollTop = log.scrollHeight;
    });
    stream.addEventListener("note", function (e) {
      var note = document.createElement("em");
      note.textContent = e.data + "\n";
      log.appendChild(note);
    });
    stream.addEventListener("end", function () { stream.close(); });
  }
})();
