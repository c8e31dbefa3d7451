// 户户清工作台: the little the pages need beyond HTML. Everything works without it.
(function () {
  "use strict";

  // The month picker reloads the page for the chosen month.
  document.querySelectorAll("[data-autosubmit]").forEach(function (input) {
    input.addEventListener("change", function () {
      if (input.value && input.form) {
        input.form.submit();
      }
    });
  });

  // Forms with data-confirm ask before they are sent (marking a visit invalid, and so on).
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });

  // A submitted form cannot be sent twice by a double click (downloads stay on the page, so
  // their buttons come back after a few seconds).
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (event.defaultPrevented) {
        return;
      }
      var buttons = form.querySelectorAll("button[type=submit]");
      window.setTimeout(function () {
        buttons.forEach(function (button) { button.disabled = true; });
      }, 0);
      window.setTimeout(function () {
        buttons.forEach(function (button) { button.disabled = false; });
      }, 5000);
    });
  });
})();
