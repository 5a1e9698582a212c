// Draws every price chart on the page: <div class="price-chart" data-figure="ID"> reads its figure
// from <script type="application/json" id="ID"> (Django's json_script), which dashboard/charts.py
// builds in a compact form (one shared array of times, sent as numbers) that expand() turns into
// ordinary plotly traces. No inline scripts (CSP); charts swapped in by HTMX are drawn on htmx:load
// and purged when htmx removes them, so swaps do not leak plots.
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

  // The figure's times are naive wall-clock microseconds; plotly gets each as the naive ISO
  // string Python's isoformat() writes (seconds, and microseconds only when there are any).
  function wallTime(microseconds) {
    var seconds = Math.floor(microseconds / 1e6);
    var fraction = microseconds - seconds * 1e6;
    var text = new Date(seconds * 1000).toISOString().slice(0, 19);
    return fraction ? text + "." + String(fraction).padStart(6, "0") : text;
  }

  function sharedTimes(times) {
    var walls = [times.start];
    for (var i = 0; i < times.steps.length; i++) {
      walls.push(walls[i] + times.unit * times.steps[i]);
    }
    return walls.map(wallTime);
  }

  // Calls visit(index into the shared times, position in the trace) for each of the trace's
  // times: trace.at is [first, count] runs.
  function eachTime(trace, visit) {
    var position = 0;
    trace.at.forEach(function (run) {
      for (var index = run[0]; index < run[0] + run[1]; index++) visit(index, position++);
    });
  }

  function withoutCompactKeys(trace) {
    var drawn = Object.assign({}, trace);
    ["at", "y", "low", "high", "dots", "counts"].forEach(function (key) { delete drawn[key]; });
    return drawn;
  }

  // A line: its values at its times, with a gap (null) before a time that follows an outage.
  function expandLine(trace, times, breaks) {
    var drawn = withoutCompactKeys(trace);
    var dots = new Set(trace.dots || []);
    var size = trace.marker && trace.marker.size;
    var x = [], y = [], sizes = [];
    eachTime(trace, function (index, position) {
      if (breaks.has(index) && x.length) {
        x.push(null); y.push(null); sizes.push(0);
      }
      x.push(times[index]);
      y.push(trace.y[position]);
      sizes.push(dots.has(position) ? size : 0);
    });
    drawn.x = x;
    drawn.y = y;
    if (trace.dots) drawn.marker = Object.assign({}, trace.marker, { size: sizes });
    return drawn;
  }

  // The min–max band: a polygon per run of times with both figures and no outage between
  // them, the max forward and the min backward; polygons are separated by null.
  function expandBand(trace, times, breaks) {
    var drawn = withoutCompactKeys(trace);
    var runs = [[]];
    eachTime(trace, function (index, position) {
      var low = trace.low[position], high = trace.high[position];
      var defined = low !== null && high !== null;
      if ((!defined || breaks.has(index)) && runs[runs.length - 1].length) runs.push([]);
      if (defined) runs[runs.length - 1].push({ x: times[index], low: low, high: high });
    });
    var x = [], y = [], customdata = [];
    runs.forEach(function (run) {
      if (!run.length) return;
      if (x.length) {
        x.push(null); y.push(null); customdata.push([null, null]);
      }
      run.concat(run.slice().reverse()).forEach(function (vertex, i) {
        x.push(vertex.x);
        y.push(i < run.length ? vertex.high : vertex.low);
        customdata.push([vertex.low, vertex.high]);
      });
    });
    drawn.x = x;
    drawn.y = y;
    drawn.customdata = customdata;
    return drawn;
  }

  // The offer-count row: trace.counts holds [position, count] where the count changes; each
  // count holds over the line's times until the next, with a gap before a time after an outage.
  function expandCounts(trace, times, breaks) {
    var drawn = withoutCompactKeys(trace);
    var changes = trace.counts, next = 0, count = null;
    var x = [], y = [];
    eachTime(trace, function (index, position) {
      while (next < changes.length && changes[next][0] <= position) count = changes[next++][1];
      if (breaks.has(index) && x.length) {
        x.push(null); y.push(null);
      }
      x.push(times[index]);
      y.push(count);
    });
    drawn.x = x;
    drawn.y = y;
    return drawn;
  }

  // The figure's traces as plotly draws them (a figure without "times" is drawn as it is).
  function expand(figure) {
    if (!figure.times) return figure.data;
    var times = sharedTimes(figure.times);
    var breaks = new Set(figure.times.breaks);
    return figure.data.map(function (trace) {
      if (!trace.at) return trace;
      if (trace.low) return expandBand(trace, times, breaks);
      return trace.counts ? expandCounts(trace, times, breaks) : expandLine(trace, times, breaks);
    });
  }

  function draw(element) {
    var figure = readFigure(element);
    if (!figure) return;
    var data;
    try {
      data = expand(figure);
    } catch (error) {
      warn(element, "the figure data is not a figure dashboard/charts.py builds.", error);
      return;
    }
    var layout = figure.layout;
    // On touch screens a drag should scroll the page, not draw a zoom box over the chart.
    if (window.matchMedia && window.matchMedia("(pointer: coarse)").matches) {
      layout.dragmode = false;
    }
    // Not a live plot yet: clear any fallback text, or a plot's markup in an htmx history
    // snapshot saved before app.js left plots out of them, before plotly adds its own.
    if (!element._fullLayout) element.replaceChildren();
    try {
      Promise.resolve(Plotly.react(element, data, layout, CONFIG)).catch(function (error) {
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
