// Forms with data-confirm="question" ask before submitting (no inline event handlers: the CSP forbids them).
document.addEventListener("submit", (event) => {
  const question = event.target instanceof HTMLFormElement ? event.target.dataset.confirm : undefined;
  if (question && !window.confirm(question)) event.preventDefault();
}, true);
