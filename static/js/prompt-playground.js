// The prompt playground (templates/prompts/prompt_playground.html): changing a version or the
// "compare" switch reloads the form with GET, so the variable fields follow the chosen versions and
// the values typed so far are kept. Without this file the <noscript> button does the same.
(function () {
  "use strict";
  const form = document.getElementById("playground");
  if (!form) return;
  form.addEventListener("change", (event) => {
    if (!event.target.matches("[data-reload-on-change]")) return;
    const query = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      if (name !== "csrfmiddlewaretoken") query.append(name, value);
    }
    window.location.assign(`${form.action}?${query.toString()}`);
  });
})();
