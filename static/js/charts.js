// Draws every price chart on the page: <div class="price-chart" data-figure="ID"> reads its figure
// from <script type="application/json" id="ID"> (Django's json_script), which dashboard/charts.py
// builds. No inline scripts (CSP); charts swapped in by HTMX are drawn on htmx:load and purged
// when htmx removes them, so swaps do not leak plots.
(function () {
  "use strict";

  var CONFIG = {
    responsive: true,
    displaylogo: false,
    // No "Share chart" button: it would send a user's prices to Plotly's cloud.
    showSendToCloud: false,
    modeBarButtonsToRemove: ["lasso2d", "select2d"],
    toImageButtonOptions: { filename: "price-trend" }
  };
  // The figure text each element was last drawn from, so that htmx:load for the whole body
  // (which htmx fires once at start-up, after DOMContentLoaded) does not draw a chart twice.
  var drawnFrom = new WeakMap();

  function warn(element, message, error) {
    console.warn("Price chart " + (element.getAttribute("data-figure") || "?") + ": " + message, error || "");
  }

  function readFigure(element) {
    var id = element.getAttribute("data-figure");
    var source = id && document.getElementById(id);
    if (!source) {
      if (!drawnFrom.has(element)) warn(element, "no figure data element with that id.");
      drawnFrom.set(element, null);
      return null;
    }
    var text = source.textContent;
    if (drawnFrom.get(element) === text) return null;
    drawnFrom.set(element, text);  // drawn or warned about: either way once
    try {
      var figure = JSON.parse(text);
      if (!figure || !Array.isArray(figure.data) || !figure.layout || typeof figure.layout !== "object") {
        warn(element, "the figure data is not {data: [...], layout: {...}}.");
        return null;
      }
      return figure;
    } catch (error) {
      warn(element, "the figure data is not valid JSON.", error);
      return null;
    }
  }

  function draw(element) {
    var figure = readFigure(element);
    if (!figure) return;
    var layout = figure.layout;
    // On touch screens a drag should scroll the page, not draw a zoom box over the chart.
    if (window.matchMedia && window.matchMedia("(pointer: coarse)").matches) {
      layout.dragmode = false;
    }
    // Not a live plot yet: clear any fallback text, or a plot's markup in an htmx history
    // snapshot saved before app.js left plots out of them, before plotly adds its own.
    if (!element._fullLayout) element.replaceChildren();
    try {
      Promise.resolve(Plotly.react(element, figure.data, layout, CONFIG)).catch(function (error) {
        warn(element, "plotly could not draw the figure.", error);
      });
    } catch (error) {
      warn(element, "plotly could not draw the figure.", error);
    }
  }

  function drawAll(root) {
    if (!root || !root.querySelectorAll) return;
    var charts = Array.prototype.slice.call(root.querySelectorAll(".price-chart[data-figure]"));
    if (root.matches && root.matches(".price-chart[data-figure]")) charts.unshift(root);
    if (!charts.length) return;
    if (typeof window.Plotly === "undefined") {
      console.warn("Price charts: plotly.js is not loaded (vendor/plotly.min.js).");
      return;
    }
    charts.forEach(draw);
  }

  // htmx fires this for every element it removes (swaps, history restores, deletes), and only
  // once the removal is certain; htmx:beforeSwap may still be cancelled by another listener.
  document.addEventListener("htmx:beforeCleanupElement", function (event) {
    var element = event.target;
    if (element && element._fullLayout && typeof window.Plotly !== "undefined") {
      Plotly.purge(element);
      drawnFrom.delete(element);
    }
  });
  document.addEventListener("htmx:load", function (event) { drawAll(event.target); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  } else {
    drawAll(document);
  }
})();
