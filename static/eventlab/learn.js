// Interview prep's timer: counts the time since the set started (recorded by the server). Informative only: nothing
// stops when the suggested time passes, and without this script the page shows the time when it loaded.
(function () {
  "use strict";
  var el = document.getElementById("interview-timer");
  if (!el) return;
  var loaded = Date.now();
  var atLoad = parseInt(el.getAttribute("data-elapsed") || "0", 10);
  var suggested = parseInt(el.getAttribute("data-suggested") || "0", 10);
  function clock(s) { var m = Math.floor(s / 60), r = s % 60; return m + ":" + (r < 10 ? "0" : "") + r; }
  function tick() {
    var s = atLoad + Math.floor((Date.now() - loaded) / 1000);
    el.textContent = "Elapsed " + clock(s) + (s > suggested ? " (past the suggested time)" : "");
  }
  tick();
  setInterval(tick, 1000);
})();
