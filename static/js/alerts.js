// The alert rule form shows only what the chosen kind takes. Each part with data-kinds lists the
// kinds that use it; data-figures, the prices (the "Price to watch" choice) that do. A part
// that does not apply is hidden and disabled, so its fields are neither seen nor sent (htmx and
// browsers skip disabled fields). Without JavaScript every part shows, and the server ignores
// what the kind does not take. Delegated and run on htmx:load: forms arrive in the dialog.
(function () {
  "use strict";

  var FORM = "form[data-alert-rule-form]";

  function listed(element, attribute, value) {
    return element.getAttribute(attribute).split(" ").indexOf(value) !== -1;
  }

  function setShown(part, shown) {
    part.hidden = !shown;
    if (part.tagName === "FIELDSET") {
      part.disabled = !shown;
    } else {
      part.querySelectorAll("input, select, textarea").forEach(function (field) {
        field.disabled = !shown;
      });
    }
  }

  function update(form) {
    var kind = form.querySelector("[name=kind]");
    if (!kind) return;
    var figure = form.querySelector("[name=figure]");
    form.querySelectorAll("[data-kinds]").forEach(function (part) {
      setShown(part, listed(part, "data-kinds", kind.value));
    });
    form.querySelectorAll("[data-figures]").forEach(function (part) {
      setShown(part, Boolean(figure) && listed(part, "data-figures", figure.value));
    });
  }

  function updateAll(root) {
    if (!root || !root.querySelectorAll) return;
    if (root.matches && root.matches(FORM)) update(root);
    root.querySelectorAll(FORM).forEach(update);
  }

  // On "input", before the back-test's request (delayed) collects the form.
  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest(FORM);
    if (form && (event.target.name === "kind" || event.target.name === "figure")) update(form);
  });
  document.addEventListener("htmx:load", function (event) { updateAll(event.target); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { updateAll(document); });
  } else {
    updateAll(document);
  }
})();
