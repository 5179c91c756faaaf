/*
 * Read-only graphs (templates/agents/partials/graph-view.html): scale a graph
 * that is wider than its card down to fit (not below 55%; past that it
 * scrolls), and keep it fitted on resize. Positions come from the server.
 */
(function () {
  "use strict";

  var MIN_SCALE = 0.55;

  function fit(view) {
    var canvas = view.querySelector(".graph-view__canvas");
    if (!canvas) return;
    var width = parseFloat(canvas.style.width);
    var height = parseFloat(canvas.style.height);
    var available = view.clientWidth;
    var scale = width > available ? available / width : 1;
    if (scale < MIN_SCALE) scale = 1;
    canvas.style.transform = scale < 1 ? "scale(" + scale.toFixed(3) + ")" : "";
    view.classList.toggle("is-scaled", scale < 1);
    view.style.height = scale < 1 ? Math.ceil(height * scale) + "px" : "";
  }

  function fitAll() {
    document.querySelectorAll("[data-graph-view]").forEach(fit);
  }

  document.addEventListener("DOMContentLoaded", fitAll);
  window.addEventListener("resize", fitAll);
  document.addEventListener("htmx:afterSettle", fitAll);
  if (document.readyState !== "loading") fitAll();
})();
