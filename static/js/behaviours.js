// Small page behaviours declared with data attributes: the Content-Security-Policy forbids inline
// scripts and on…= handlers, so templates say what they want and this file does it.

// <form data-confirm="question">: ask before submitting; {name} in the question is the value of the
// form's field of that name ("Move label to v{version}?").
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
  const question = form.dataset.confirm.replace(/\{(\w+)\}/g, (whole, name) => {
    const field = form.elements.namedItem(name);
    return field && "value" in field ? field.value : whole;
  });
  if (!window.confirm(question)) event.preventDefault();
}, true);

// <details data-focus-on-open>: focus its first input when it opens ("toggle" does not bubble: capture it).
document.addEventListener("toggle", (event) => {
  const details = event.target;
  if (details instanceof HTMLDetailsElement && details.open && details.hasAttribute("data-focus-on-open")) {
    const input = details.querySelector("input");
    if (input) input.focus();
  }
}, true);
