// A shared run's answer page: ask for the run's status every 1.5 s and reload once it has finished
// (a static file: the CSP forbids inline scripts).
(() => {
  const root = document.getElementById("share-answer");
  if (!root || root.dataset.finished === "true") return;
  const poll = () => {
    fetch(root.dataset.statusUrl, { headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : null))
      .then((data) => {
        if (data && data.finished) window.location.reload();
        else setTimeout(poll, 1500);
      })
      .catch(() => setTimeout(poll, 3000));
  };
  setTimeout(poll, 1500);
})();
