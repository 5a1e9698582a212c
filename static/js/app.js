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
    if (event.detail.target.id !== "dialog-body") return;
    var dialog = dialogOf(event.detail.target);
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

  document.addEventListener("DOMContentLoaded", function () {
    document.documentElement.classList.add("js");
    dismissMessages(document);
  });
  document.addEventListener("htmx:load", function (event) { dismissMessages(event.target); });
})();
