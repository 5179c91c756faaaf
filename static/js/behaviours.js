// Small page behaviours declared with data attributes: the Content-Security-Policy forbids inline
// scripts and on…= handlers, so templates say what they want and this file does it.

// <form data-confirm="question">: ask before submitting.
document.addEventListener("submit", (event) => {
  const question = event.target instanceof HTMLFormElement ? event.target.dataset.confirm : undefined;
  if (question && !window.confirm(question)) event.preventDefault();
}, true);

// <details data-focus-on-open>: focus its first input when it opens ("toggle" does not bubble: capture it).
document.addEventListener("toggle", (event) => {
  const details = event.target;
  if (details instanceof HTMLDetailsElement && details.open && details.hasAttribute("data-focus-on-open")) {
    const input = details.querySelector("input");
    if (input) input.focus();
  }
}, true);
