// Small behaviours shared by every page. htmx itself comes from django-htmx's {% htmx_script %}.
(function () {
  "use strict";

  // Let a message fade after a while so the page does not fill up with them.
  function dismissMessages(root) {
    root.querySelectorAll(".message").forEach(function (message) {
      setTimeout(function () { message.remove(); }, 6000);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { dismissMessages(document); });
  document.addEventListener("htmx:load", function (event) { dismissMessages(event.target); });
})();
