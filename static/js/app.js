// Small behaviours shared by every page. htmx itself comes from django-htmx's {% htmx_script %}.
(function () {
  "use strict";

  // Messages fade after a while so the page does not fill up with them.
  function dismissMessages(root) {
    root.querySelectorAll(".message:not([data-dismissing])").forEach(function (message) {
      message.setAttribute("data-dismissing", "");
      setTimeout(function () { message.remove(); }, 6000);
    });
  }

  function showMessage(text, tone) {
    var region = document.getElementById("messages");
    if (!region) return;
    var message = document.createElement("div");
    message.className = "message message-" + (tone || "error");
    message.setAttribute("role", "status");
    message.textContent = text;
    region.appendChild(message);
    dismissMessages(region);
  }

  // Forms and confirmations load into the page's <dialog>: open it when content arrives,
  // close it when the server says the change is done ("dialog-close") or the user cancels.
  // Opened once htmx has settled the content: htmx focuses [autofocus] when it settles, and a
  // dialog already open would have its focus pulled back from where the user had tabbed.
  function dialogOf(element) { return element && element.closest("dialog"); }

  document.addEventListener("htmx:afterSettle", function (event) {
    // A history restore settles too, with no target.
    var target = event.detail.target;
    if (!target || target.id !== "dialog-body") return;
    var dialog = dialogOf(target);
    if (dialog && !dialog.open) {
      dialog.showModal();
      var focus = dialog.querySelector("[autofocus]") || dialog.querySelector("input, textarea, button");
      if (focus) focus.focus();
    }
  });
  document.body.addEventListener("dialog-close", function () {
    document.querySelectorAll("dialog[open]").forEach(function (dialog) { dialog.close(); });
  });
  document.addEventListener("click", function (event) {
    var cancel = event.target.closest("[data-dialog-cancel]");
    var dialog = dialogOf(cancel);
    if (cancel && dialog) {
      event.preventDefault();
      dialog.close();
    }
  });
  document.addEventListener("close", function (event) {
    if (event.target.matches && event.target.matches("dialog")) {
      var body = event.target.querySelector("#dialog-body");
      if (body) body.innerHTML = "";
    }
  }, true);

  // A request that fails says so instead of silently doing nothing.
  document.addEventListener("htmx:responseError", function (event) {
    showMessage("Something went wrong (" + event.detail.xhr.status + "). Please try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    showMessage("Could not reach the server. Check your connection and try again.");
  });

  // Copy buttons: data-copy-target names the field to copy, data-copy-status a live region that
  // says what happened. Delegated, so buttons that htmx swaps in work too. Where the Clipboard API
  // is missing or refused (plain http, a denied permission) the text is selected for Ctrl+C.
  var copyStatusTimer;
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    var field = button && document.getElementById(button.getAttribute("data-copy-target"));
    if (!field) return;
    var status = document.getElementById(button.getAttribute("data-copy-status"));
    function announce(text) {
      if (!status) return;
      status.textContent = text;
      // Cleared again, so that copying twice is announced twice.
      clearTimeout(copyStatusTimer);
      copyStatusTimer = setTimeout(function () { status.textContent = ""; }, 4000);
    }
    function selectInstead() {
      field.focus();
      field.select();
      announce("Selected: press Ctrl+C (⌘C on a Mac) to copy");
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(field.value).then(function () { announce("Copied"); }, selectInstead);
    } else {
      selectInstead();
    }
  });

  // htmx keeps a copy of the page's markup for the back button and parses it again on the way
  // back, where the Content-Security-Policy refuses style attributes. Scripts style elements
  // through the CSSOM, which the policy allows (plotly.js: each plot, the SVG it measures text
  // in, its notes), and the copy would turn that into style attributes: leave such elements
  // out. htmx copies the page right after this event and then swaps, all in one task; a
  // microtask puts back what is still where it was, unless a new element of the same id was
  // made meanwhile. Whatever drew them draws again on the restored page (charts.js: htmx:load).
  function leaveOutOfSnapshot(element) {
    var parent = element.parentNode;
    var next = element.nextSibling;
    parent.removeChild(element);
    queueMicrotask(function () {
      if (!parent.isConnected || element.parentNode) return;
      if (element.id && document.getElementById(element.id)) return;
      parent.insertBefore(element, next && next.parentNode === parent ? next : null);
    });
  }
  document.addEventListener("htmx:beforeHistorySave", function (event) {
    var root = event.detail.historyElt || document.body;
    root.querySelectorAll("[style]").forEach(function (element) {
      if (root.contains(element)) leaveOutOfSnapshot(element); // not in one already left out
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.documentElement.classList.add("js");
    dismissMessages(document);
  });
  document.addEventListener("htmx:load", function (event) { dismissMessages(event.target); });
})();
