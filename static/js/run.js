/*
 * Run page glue for the htmx ws extension (no framework, no build).
 *
 * - reconnects resume from the last applied seq (#run-cursor-<run>[data-seq]),
 *   not from the seq the page was rendered with;
 * - a message whose cursor is not newer than the page's is dropped (never
 *   applied twice);
 * - a step card that is not on the page yet gets an empty placeholder in its
 *   list (data-upsert) so the hx-swap-oob swap creates it;
 * - ticks the elapsed time of a running run, shows the connection state,
 *   keeps streamed text scrolled to its end;
 * - flags JSON textareas (data-json="list|object") that do not parse.
 */
(function () {
  "use strict";

  var RUN_URL = /\/ws\/runs\/(\d+)\//;
  var RETRIED_CODES = [1006, 1011, 1012, 1013];

  function cursorFor(url) {
    var match = RUN_URL.exec(url);
    return match ? document.getElementById("run-cursor-" + match[1]) : null;
  }

  function installSocketFactory() {
    if (!window.htmx || htmx.__studioRunSockets) return;
    var create = htmx.createWebSocket || function (url) { return new WebSocket(url); };
    htmx.createWebSocket = function (url) {
      var cursor = cursorFor(url);
      if (cursor) {
        var resolved = new URL(url, window.location.href);
        resolved.searchParams.set("after", cursor.getAttribute("data-seq") || "0");
        url = resolved.toString();
      }
      return create(url);
    };
    htmx.__studioRunSockets = true;
  }

  function parse(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  function onBeforeMessage(event) {
    var incoming = parse(event.detail.message);
    var cursor = incoming.querySelector(".run-cursor[data-seq]");
    if (cursor) {
      var current = document.getElementById(cursor.id);
      var seen = current ? parseInt(current.getAttribute("data-seq") || "0", 10) : 0;
      if (parseInt(cursor.getAttribute("data-seq"), 10) <= seen) {
        event.preventDefault(); // already applied (a replay overlapping the page)
        return;
      }
    }
    incoming.querySelectorAll("[data-upsert][id]").forEach(function (element) {
      if (document.getElementById(element.id)) return;
      var list = document.querySelector(element.getAttribute("data-upsert"));
      if (!list) return;
      var placeholder = document.createElement(element.tagName);
      placeholder.id = element.id;
      list.appendChild(placeholder);
    });
  }

  function onAfterMessage() {
    document.querySelectorAll(".stream").forEach(function (stream) {
      stream.scrollTop = stream.scrollHeight;
    });
    var header = document.querySelector(".run-header");
    if (header && /run-header--(succeeded|failed|cancelled)/.test(header.className)) {
      setPill("done", "Finished");
    }
  }

  function setPill(state, text) {
    var pill = document.querySelector(".live-pill");
    if (!pill) return;
    pill.setAttribute("data-state", state);
    pill.querySelector(".live-pill__text").textContent = text;
  }

  function formatElapsed(ms) {
    var seconds = Math.max(0, ms / 1000);
    if (seconds < 60) return seconds.toFixed(1) + " s";
    var minutes = Math.floor(seconds / 60);
    var rest = Math.floor(seconds % 60);
    if (minutes < 60) return minutes + " m " + (rest < 10 ? "0" : "") + rest + " s";
    var hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    return hours + " h " + (minutes < 10 ? "0" : "") + minutes + " m";
  }

  function tick() {
    document.querySelectorAll("[data-elapsed-since]").forEach(function (element) {
      var since = Date.parse(element.getAttribute("data-elapsed-since"));
      if (!isNaN(since)) element.textContent = formatElapsed(Date.now() - since);
    });
  }

  function checkJson(textarea) {
    var value = textarea.value.trim();
    var message = "";
    if (value) {
      try {
        var parsed = JSON.parse(value);
        var wantsList = textarea.getAttribute("data-json") === "list";
        if (wantsList && !Array.isArray(parsed)) message = "Enter a JSON list, like [1, 2].";
        if (!wantsList && (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))) {
          message = 'Enter a JSON object, like {"key": "value"}.';
        }
      } catch (error) {
        message = "Not valid JSON yet.";
      }
    }
    textarea.classList.toggle("is-invalid", !!message);
    textarea.setCustomValidity(message);
    textarea.title = message;
  }

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("textarea[data-json]")) checkJson(event.target);
  });

  document.addEventListener("htmx:wsBeforeMessage", onBeforeMessage);
  document.addEventListener("htmx:wsAfterMessage", onAfterMessage);
  document.addEventListener("htmx:wsConnecting", function () { setPill("connecting", "Connecting"); });
  document.addEventListener("htmx:wsOpen", function () { setPill("open", "Live"); });
  document.addEventListener("htmx:wsClose", function (event) {
    var code = event.detail && event.detail.event ? event.detail.event.code : 0;
    if (code === 4403) setPill("closed", "No access");
    else if (RETRIED_CODES.indexOf(code) >= 0) setPill("connecting", "Reconnecting");
    else if (document.querySelector(".live-pill[data-state=done]") === null) setPill("closed", "Offline");
  });

  // "Rerun from here" on the run page: a refusal (HTTP 400) is shown next to its button.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (event.detail.xhr.status === 400 && target && target.classList.contains("step-card__rerun-error")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // A run that starts waiting for an approval while the page is open: reload once so the page
  // shows the approve/reject form (rendered with the reviewer's data and a CSRF token).
  document.addEventListener("htmx:wsAfterMessage", function () {
    var page = document.querySelector(".run-page[data-can-run]");
    if (page && !page.dataset.reloaded && page.querySelector(".run-header--waiting") && !document.querySelector(".run-approval")) {
      page.dataset.reloaded = "1";
      window.location.reload();
    }
  });

  installSocketFactory();
  document.addEventListener("DOMContentLoaded", installSocketFactory);
  window.setInterval(tick, 500);
  tick();
})();
