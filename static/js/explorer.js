// Trace explorer and trace page: keyboard use. "/" focuses the search box; "j"/"k" move the focus
// through the rows (explorer) or the tree's links (trace page); Enter opens the focused one (a link);
// a panel loaded beside the tree takes the focus, so screen readers and the keyboard follow.
(() => {
  const typing = (el) => el instanceof HTMLElement && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  const links = () => Array.from(document.querySelectorAll("[data-keynav] a.row-link__a, [data-keynav] a[data-tree-link]"));

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (event.key === "/") {
      const search = document.querySelector("[data-hotkey='/']");
      if (search) { event.preventDefault(); search.focus(); search.select(); }
      return;
    }
    if (event.key !== "j" && event.key !== "k") return;
    const all = links();
    if (!all.length) return;
    const at = all.indexOf(document.activeElement);
    const next = event.key === "j" ? Math.min(at + 1, all.length - 1) : Math.max(at - 1, 0);
    event.preventDefault();
    all[at === -1 ? 0 : next].focus();
  });

  document.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail && event.detail.target;
    if (target && target.id === "trace-panel") {
      const panel = target.querySelector("[data-panel]");
      if (panel) panel.focus();
    }
  });
})();
