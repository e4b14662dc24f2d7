// EventLab's only script: tells the lab's websocket what this tab is looking at, and labels the live status.
// Everything else is htmx attributes in the templates; every page also works without this file (just not live).
(function () {
  "use strict";

  function head() {
    var el = document.getElementById("lab-head");
    return el ? parseInt(el.getAttribute("data-head") || "0", 10) : 0;
  }

  // What this tab shows: the server pushes only what fits (filtered rows, the chosen statement, the run's step).
  function view(after) {
    var live = document.getElementById("live");
    var run = document.getElementById("run");
    if (run) {
      var shown = { page: run.getAttribute("data-page") || live.getAttribute("data-page"), run: run.getAttribute("data-run"),
                    after: parseInt(run.getAttribute("data-version") || "0", 10) };
      if (run.getAttribute("data-at")) shown.at = parseInt(run.getAttribute("data-at"), 10);
      return JSON.stringify(shown);
    }
    var panel = document.getElementById("event-panel");
    var models = document.getElementById("readmodels");
    return JSON.stringify({
      page: live ? live.getAttribute("data-page") : "",
      after: after,
      stream: panel ? panel.getAttribute("data-stream") : "",
      type: panel ? panel.getAttribute("data-type") : "",
      live: panel ? panel.getAttribute("data-live") === "true" : false,
      account: models ? models.getAttribute("data-account") : ""
    });
  }

  var socket = null;

  function setStatus(state, text) {
    var el = document.getElementById("live-status");
    if (el) { el.setAttribute("data-state", state); el.textContent = text; }
  }

  document.addEventListener("htmx:wsOpen", function (evt) {
    socket = evt.detail.socketWrapper;
    // On every (re)connect, say where this tab is: the server re-reads the log from there, so nothing is skipped
    // or shown twice, whatever happened while the socket was down.
    var panel = document.getElementById("event-panel");
    var panelHead = panel ? parseInt(panel.getAttribute("data-head") || "0", 10) : 0;
    socket.send(view(Math.max(head(), panelHead)));
    setStatus("live", "live");
  });
  document.addEventListener("htmx:wsClose", function () { socket = null; setStatus("offline", "not live (reconnecting)"); });
  document.addEventListener("htmx:wsError", function () { setStatus("offline", "not live"); });

  // A row already on the page (pushed just before a reconnect) is never added twice. A run panel (saga, 2PC, side by side) this tab
  // already shows (its own step's response came first) is not swapped again; when one is, focus stays put.
  var refocus = null;
  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var target = evt.detail.target;
    if (!target) return;
    if (target.id === "event-rows") {
      evt.detail.fragment.querySelectorAll("tr[id]").forEach(function (row) {
        if (document.getElementById(row.id)) row.remove();
      });
    } else if (target.id === "run") {
      var incoming = evt.detail.fragment.querySelector("#run") || evt.detail.fragment.firstElementChild;
      var version = function (el) { return parseInt(el.getAttribute("data-version") || "0", 10); };
      if (incoming && incoming.getAttribute("data-run") === target.getAttribute("data-run") &&
          version(incoming) <= version(target)) {
        evt.detail.shouldSwap = false;
        return;
      }
      refocus = document.activeElement && target.contains(document.activeElement) ? document.activeElement.id : null;
    }
  });
  document.addEventListener("htmx:oobAfterSwap", function (evt) {
    if (refocus && evt.detail.target && evt.detail.target.id === "run") {
      var again = document.getElementById(refocus);
      if (again) again.focus();
      refocus = null;
    }
  });

  // After a filter, page or statement change re-renders a panel, tell the socket the new view.
  document.addEventListener("htmx:afterSettle", function (evt) {
    if (!socket) return;
    var target = evt.detail.target;
    if (target && target.id === "event-panel") {
      socket.send(view(parseInt(target.getAttribute("data-head") || "0", 10)));
    } else if (target && (target.id === "readmodels" || target.id === "run")) {
      socket.send(view(head()));
    }
  });

  // The command form shows only the fields the chosen command uses (all stay usable without JavaScript).
  function syncCommandFields() {
    var select = document.getElementById("cmd-command");
    if (!select) return;
    document.querySelectorAll(".command [data-for]").forEach(function (field) {
      field.hidden = field.getAttribute("data-for").split(" ").indexOf(select.value) < 0;
    });
  }
  document.addEventListener("change", function (evt) { if (evt.target.id === "cmd-command") syncCommandFields(); });
  document.addEventListener("DOMContentLoaded", syncCommandFields);
})();
