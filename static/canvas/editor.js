/* Studio editor: palette, undo/redo, clipboard, selection, layout, minimap,
 * autosave with conflict detection, inspector wiring, publish, run view.
 *
 * The server is the source of truth: the draft is saved with the revision it
 * is based on (PUT /api/v1/workflows/<id>/draft/), and a stale save comes back
 * 409 and is shown, never retried blindly. Panels are HTMX partials; this file
 * only talks JSON to the API and applies what the inspector validated.
 */
(function () {
  "use strict";

  const AUTOSAVE_MS = 800;
  const HISTORY_LIMIT = 80;
  const boot = JSON.parse(document.getElementById("editor-boot").textContent);
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const csrf = () => (document.cookie.match(/csrftoken=([^;]+)/) || [])[1] || JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];

  // ------------------------------------------------------------------ toasts

  function toast(message, kind, ms) {
    const box = $(".toasts");
    const el = document.createElement("div");
    el.className = "toast toast--" + (kind || "info");
    el.setAttribute("role", kind === "error" ? "alert" : "status");
    el.innerHTML = '<span class="toast__icon" aria-hidden="true"></span><span></span>';
    el.lastChild.textContent = message;
    box.appendChild(el);
    setTimeout(() => { el.classList.add("is-leaving"); setTimeout(() => el.remove(), 300); }, ms || (kind === "error" ? 7000 : 3200));
  }

  async function api(method, url, body) {
    const response = await fetch(url, {
      method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { status: response.status, ok: response.ok, data };
  }

  // ------------------------------------------------------------------ state

  const state = {
    revision: boot.workflow.draft_revision,
    latestVersion: boot.workflow.latest_version,
    dirty: false,
    saving: false,
    conflict: null,
    saveTimer: 0,
    undo: [],
    redo: [],
    clipboard: null,
    run: null,
    openNode: null,
  };
  const editable = boot.can_edit;

  const canvas = new window.StudioCanvas($("#drawflow"), {
    catalog: boot.catalog,
    editable,
    onChange: (kind) => changed(kind),
    onSelect: () => drawMinimap(),
    onRefuse: (reason) => toast("Connection refused — " + reason, "error", 6000),
    onOpen: (id) => openNode(id),
  });
  window.studioEditor = { canvas, state, boot };

  // ------------------------------------------------------------------ history (undo/redo)

  let last = snapshot();

  function snapshot() {
    return { graph: JSON.stringify(canvas.toGraph()), ports: canvas.portsSnapshot() };
  }

  function changed(kind) {
    const now = snapshot();
    if (now.graph === last.graph) return;
    state.undo.push(last);
    if (state.undo.length > HISTORY_LIMIT) state.undo.shift();
    state.redo = [];
    last = now;
    markDirty();
    refreshChrome();
    if (kind === "delete" && state.openNode && !canvas.nodes.has(state.openNode)) closeInspector();
  }

  function restore(snap) {
    const viewport = canvas.viewport();
    canvas.load(JSON.parse(snap.graph), snap.ports);
    canvas.setViewport(viewport.zoom, viewport.x, viewport.y);
    last = snap;
    markDirty();
    refreshChrome();
    if (state.openNode && !canvas.nodes.has(state.openNode)) closeInspector();
    else if (state.openNode) openNode(state.openNode);
  }

  function undo() {
    if (!state.undo.length) return;
    state.redo.push(last);
    restore(state.undo.pop());
    toast("Undone", "info", 1200);
  }

  function redo() {
    if (!state.redo.length) return;
    state.undo.push(last);
    restore(state.redo.pop());
    toast("Redone", "info", 1200);
  }

  // ------------------------------------------------------------------ autosave

  function setSave(kind, text) {
    const el = $("#ed-save");
    el.dataset.state = kind;
    $(".ed-save__text", el).textContent = text;
  }

  function markDirty() {
    if (!editable) return;
    state.dirty = true;
    if (state.conflict) return;
    setSave("dirty", "Unsaved changes");
    clearTimeout(state.saveTimer);
    state.saveTimer = setTimeout(save, AUTOSAVE_MS);
  }

  async function save() {
    clearTimeout(state.saveTimer);
    if (!editable || state.conflict) return false;
    if (state.saving) { state.saveTimer = setTimeout(save, 200); return false; }
    if (!state.dirty) return true;
    state.saving = true;
    state.dirty = false;
    setSave("saving", "Saving…");
    const graph = canvas.toGraph();
    let result;
    try {
      result = await api("PUT", boot.urls.draft, { graph, base_revision: state.revision });
    } catch (e) {
      state.saving = false; state.dirty = true;
      setSave("error", "Offline — retrying");
      state.saveTimer = setTimeout(save, 3000);
      return false;
    }
    state.saving = false;
    if (result.ok) {
      state.revision = result.data.draft_revision;
      if (state.dirty) { setSave("dirty", "Unsaved changes"); state.saveTimer = setTimeout(save, AUTOSAVE_MS); }
      else setSave("saved", "Saved · rev " + state.revision);
      return true;
    }
    state.dirty = true;
    if (result.status === 409) {
      state.conflict = result.data.errors || {};
      setSave("conflict", "Conflict — not saved");
      $("#ed-conflict-text").textContent = "Your changes since revision " + state.revision + " were not saved. The draft is now at revision " +
        state.conflict.current_revision + ". Nothing was overwritten — choose what to keep.";
      $("#ed-conflict").hidden = false;
      toast("Someone else saved this draft — your change was not saved.", "error");
      return false;
    }
    const detail = result.data && result.data.detail ? result.data.detail : "HTTP " + result.status;
    const first = result.data && Array.isArray(result.data.errors) && result.data.errors[0] ? " " + result.data.errors[0].message : "";
    setSave("error", "Not saved");
    toast("Could not save: " + detail + first, "error");
    return false;
  }

  async function flush() {
    if (!editable) return true;
    if (state.conflict) { toast("Resolve the draft conflict first.", "error"); return false; }
    if (state.dirty || state.saving) {
      while (state.saving) await new Promise((r) => setTimeout(r, 50));
      if (state.dirty) return save();
    }
    return true;
  }

  $("#btn-conflict-load").addEventListener("click", async () => {
    const result = await api("GET", boot.urls.api);
    if (!result.ok) return toast("Could not load the latest draft.", "error");
    state.undo.push(last);
    state.conflict = null;
    state.dirty = false;
    state.revision = result.data.draft_revision;
    canvas.load(result.data.draft_graph, result.data.ports);
    last = snapshot();
    $("#ed-conflict").hidden = true;
    setSave("saved", "Saved · rev " + state.revision);
    refreshChrome();
    closeInspector();
    toast("Loaded the latest draft. Undo (Ctrl+Z) brings your version back.", "info", 5000);
  });

  $("#btn-conflict-keep").addEventListener("click", () => {
    if (!state.conflict) return;
    state.revision = state.conflict.current_revision;
    state.conflict = null;
    $("#ed-conflict").hidden = true;
    state.dirty = true;
    save().then((ok) => ok && toast("Your version is saved over theirs (revision " + state.revision + ").", "warning", 5000));
  });

  window.addEventListener("beforeunload", (e) => {
    if (state.dirty || state.saving || state.conflict) { e.preventDefault(); e.returnValue = ""; }
  });

  // ------------------------------------------------------------------ palette

  function renderPalette() {
    const groups = $("#palette-groups");
    const byKind = new Map();
    for (const entry of boot.catalog) {
      if (!byKind.has(entry.kind)) byKind.set(entry.kind, []);
      byKind.get(entry.kind).push(entry);
    }
    const kinds = boot.kinds.filter((k) => byKind.has(k.kind)).concat(
      Array.from(byKind.keys()).filter((k) => !boot.kinds.some((x) => x.kind === k)).map((k) => ({ kind: k, title: k })));
    groups.innerHTML = "";
    for (const { kind, title } of kinds) {
      const section = document.createElement("section");
      section.className = "ed-pgroup";
      section.innerHTML = '<h4 class="ed-pgroup__title"></h4><div class="ed-pgroup__items"></div>';
      section.firstChild.textContent = title;
      for (const entry of byKind.get(kind)) {
        const item = document.createElement("div");
        item.className = "ed-pitem";
        item.draggable = true;
        item.tabIndex = 0;
        item.dataset.type = entry.type;
        item.title = entry.description + " (drag onto the canvas, or press Enter)";
        item.innerHTML = '<span class="ed-pitem__ico node-type node-type--' + entry.type + '" aria-hidden="true">' + (entry.icon || "") + '</span><span class="ed-pitem__text"><b></b><small></small></span>';
        $("b", item).textContent = entry.title;
        $("small", item).textContent = entry.description;
        item.addEventListener("dragstart", (e) => {
          e.dataTransfer.setData("application/x-studio-node", entry.type);
          e.dataTransfer.setData("text/plain", entry.type);
          e.dataTransfer.effectAllowed = "copy";
        });
        item.addEventListener("keydown", (e) => { if (e.key === "Enter") addFromPalette(entry.type); });
        item.addEventListener("dblclick", () => addFromPalette(entry.type));
        section.lastChild.appendChild(item);
      }
      groups.appendChild(section);
    }
    $("#palette-search").addEventListener("input", (e) => {
      const q = e.target.value.trim().toLowerCase();
      for (const item of $$(".ed-pitem")) item.hidden = q && !item.textContent.toLowerCase().includes(q);
      for (const section of $$(".ed-pgroup")) section.hidden = !$$(".ed-pitem", section).some((i) => !i.hidden);
    });
  }

  function newId(type) {
    const base = type.replace(/[^A-Za-z0-9_-]/g, "_");
    let n = 1;
    while (canvas.nodes.has(base + "_" + n)) n++;
    return base + "_" + n;
  }

  function createNode(type, x, y) {
    const entry = canvas.catalog.get(type);
    if (!entry) return null;
    const node = {
      id: newId(type), type, label: entry.title,
      config: JSON.parse(JSON.stringify(entry.default_config || {})),
      position: { x: Math.round(x), y: Math.round(y) },
    };
    for (const key of ["retry", "timeout_s", "default_outputs"]) if (node.config[key] === null) delete node.config[key];
    if (node.config.on_error === "fail") delete node.config.on_error;
    canvas.addNode(node, entry.default_ports);
    changed("add");
    canvas.select([node.id]);
    openNode(node.id);
    refreshEmpty();
    drawMinimap();
    return node.id;
  }

  function addFromPalette(type) {
    const { w, h } = canvas.viewport();
    const rect = $("#drawflow").getBoundingClientRect();
    const p = canvas.toCanvas(rect.left + w / 2 - 110 + (Math.random() * 60 - 30), rect.top + h / 2 - 50 + (Math.random() * 60 - 30));
    createNode(type, p.x, p.y);
  }

  const stage = $("#drawflow");
  stage.addEventListener("dragover", (e) => { if (editable) { e.preventDefault(); e.dataTransfer.dropEffect = "copy"; } });
  stage.addEventListener("drop", (e) => {
    const type = e.dataTransfer.getData("application/x-studio-node") || e.dataTransfer.getData("text/plain");
    if (!editable || !canvas.catalog.has(type)) return;
    e.preventDefault();
    const p = canvas.toCanvas(e.clientX, e.clientY);
    createNode(type, p.x - 20, p.y - 20);
  });

  // ------------------------------------------------------------------ selection: shift+click, rubber band, group drag

  let band = null;
  let group = null;
  stage.addEventListener("mousedown", (e) => {
    canvas.shiftDown = e.shiftKey;
    const nodeEl = e.target.closest(".drawflow-node");
    if (e.shiftKey && !nodeEl && editable) {
      e.stopPropagation(); e.preventDefault();
      const rect = stage.getBoundingClientRect();
      band = { x: e.clientX - rect.left, y: e.clientY - rect.top, rect };
      Object.assign($("#select-rect").style, { left: band.x + "px", top: band.y + "px", width: "0px", height: "0px" });
      $("#select-rect").hidden = false;
      return;
    }
    if (nodeEl) {
      const id = canvas.idOf.get(nodeEl.id.slice(5));
      if (e.shiftKey) { e.stopPropagation(); e.preventDefault(); canvas.toggle(id); return; }
      if (id && canvas.selection.has(id) && canvas.selection.size > 1 && !e.target.closest(".output,.input")) {
        group = { lead: id, start: Object.fromEntries(Array.from(canvas.selection).map((s) => [s, canvas.position(s)])) };
        canvas.groupDrag = true;
      }
    } else if (!e.target.closest(".connection")) {
      canvas.clearSelection();
    }
  }, true);

  window.addEventListener("mousemove", (e) => {
    if (band) {
      const x = e.clientX - band.rect.left;
      const y = e.clientY - band.rect.top;
      Object.assign($("#select-rect").style, {
        left: Math.min(x, band.x) + "px", top: Math.min(y, band.y) + "px",
        width: Math.abs(x - band.x) + "px", height: Math.abs(y - band.y) + "px",
      });
      band.to = { x, y };
    }
  });

  window.addEventListener("mouseup", () => {
    if (band) {
      $("#select-rect").hidden = true;
      if (band.to) {
        const a = canvas.toCanvas(band.rect.left + Math.min(band.x, band.to.x), band.rect.top + Math.min(band.y, band.to.y));
        const b = canvas.toCanvas(band.rect.left + Math.max(band.x, band.to.x), band.rect.top + Math.max(band.y, band.to.y));
        const sizes = canvas.sizes();
        const picked = canvas.order.filter((id) => {
          const p = canvas.position(id);
          return p.x >= a.x && p.y >= a.y && p.x + sizes[id].w <= b.x && p.y + sizes[id].h <= b.y;
        });
        canvas.select(picked);
      }
      band = null;
    }
    if (group) { group = null; setTimeout(() => { canvas.groupDrag = false; }, 0); }
    canvas.shiftDown = false;
  });

  // Drawflow's "view" mode (read-only) reports no node selection: a viewer's click opens the node's
  // configuration read-only (the inspector renders a disabled form for people who cannot edit).
  if (!editable) {
    stage.addEventListener("click", (e) => {
      const nodeEl = e.target.closest(".drawflow-node");
      const id = nodeEl && canvas.idOf.get(nodeEl.id.slice(5));
      if (id) { canvas.select([id]); openNode(id); }
    });
  }

  let groupFrame = 0;
  canvas.df.on("mouseMove", () => {
    if (!group || !canvas.df.drag || groupFrame) return;
    groupFrame = requestAnimationFrame(() => {
      groupFrame = 0;
      if (!group) return;
      const now = canvas.position(group.lead);
      const dx = now.x - group.start[group.lead].x;
      const dy = now.y - group.start[group.lead].y;
      const moves = {};
      for (const [id, p] of Object.entries(group.start)) if (id !== group.lead) moves[id] = { x: p.x + dx, y: p.y + dy };
      canvas.moveNodes(moves);
    });
  });

  // ------------------------------------------------------------------ delete, copy, paste

  function deleteSelection() {
    const ids = Array.from(canvas.selection);
    if (!ids.length) {
      const sel = canvas.df.connection_selected;
      if (sel) { canvas.df.removeConnection(); }
      return;
    }
    canvas.removeNodes(ids);
    changed("delete");
    closeInspector();
    refreshEmpty();
    drawMinimap();
    toast(ids.length === 1 ? "Node deleted — Ctrl+Z to undo" : ids.length + " nodes deleted — Ctrl+Z to undo", "info", 2500);
  }

  function copySelection() {
    const ids = new Set(canvas.selection);
    if (!ids.size) return;
    const graph = canvas.toGraph();
    state.clipboard = {
      nodes: graph.nodes.filter((n) => ids.has(n.id)),
      edges: graph.edges.filter((e) => ids.has(e.source) && ids.has(e.target)),
      ports: Object.fromEntries(Array.from(ids).map((id) => [id, canvas.ports.get(id)])),
    };
    try { localStorage.setItem("studio.clipboard", JSON.stringify(state.clipboard)); } catch (e) { /* quota: keep in memory */ }
    toast("Copied " + ids.size + " node" + (ids.size > 1 ? "s" : ""), "info", 1500);
  }

  function paste() {
    let clip = state.clipboard;
    try { clip = JSON.parse(localStorage.getItem("studio.clipboard") || "null") || clip; } catch (e) { /* ignore */ }
    if (!clip || !clip.nodes.length) return;
    const rename = {};
    const pasted = [];
    for (const node of clip.nodes) {
      const copy = JSON.parse(JSON.stringify(node));
      copy.id = newId(node.type);
      rename[node.id] = copy.id;
      copy.position = { x: node.position.x + 48, y: node.position.y + 48 };
      canvas.addNode(copy, clip.ports[node.id]);
      pasted.push(copy.id);
    }
    for (const edge of clip.edges) {
      canvas.connect({ id: "e_" + Math.random().toString(36).slice(2, 12), source: rename[edge.source], source_port: edge.source_port, target: rename[edge.target], target_port: edge.target_port });
    }
    changed("paste");
    canvas.select(pasted);
    state.clipboard = Object.assign({}, clip, { nodes: clip.nodes.map((n) => Object.assign({}, n, { position: { x: n.position.x + 48, y: n.position.y + 48 } })) });
    try { localStorage.setItem("studio.clipboard", JSON.stringify(state.clipboard)); } catch (e) { /* ignore */ }
    refreshEmpty(); drawMinimap();
  }

  // ------------------------------------------------------------------ layout

  /** Layered (Sugiyama-style) layout: longest-path layers, one barycenter ordering sweep. */
  function autoLayout() {
    const ids = canvas.order.slice();
    if (!ids.length) return;
    const preds = new Map(ids.map((id) => [id, []]));
    const succs = new Map(ids.map((id) => [id, []]));
    for (const e of canvas.edges.values()) {
      if (preds.has(e.target) && succs.has(e.source)) { preds.get(e.target).push(e.source); succs.get(e.source).push(e.target); }
    }
    const layer = new Map();
    const indeg = new Map(ids.map((id) => [id, preds.get(id).length]));
    const queue = ids.filter((id) => indeg.get(id) === 0);
    for (const id of queue) layer.set(id, 0);
    while (queue.length) {
      const id = queue.shift();
      for (const s of succs.get(id)) {
        layer.set(s, Math.max(layer.get(s) || 0, layer.get(id) + 1));
        indeg.set(s, indeg.get(s) - 1);
        if (indeg.get(s) === 0) queue.push(s);
      }
    }
    for (const id of ids) if (!layer.has(id)) layer.set(id, 0);
    const layers = [];
    for (const id of ids) { const l = layer.get(id); (layers[l] = layers[l] || []).push(id); }
    const rank = new Map();
    layers.forEach((nodes, l) => {
      if (l > 0) {
        const bary = (id) => { const p = preds.get(id); return p.length ? p.reduce((s, x) => s + (rank.get(x) || 0), 0) / p.length : 0; };
        nodes.sort((a, b) => bary(a) - bary(b));
      }
      nodes.forEach((id, i) => rank.set(id, i));
    });
    const sizes = canvas.sizes(ids);
    const colW = Math.max(...ids.map((id) => sizes[id].w)) + 56;
    const positions = {};
    const gap = 28;
    const heights = layers.map((nodes) => nodes.reduce((s, id) => s + sizes[id].h + gap, 0));
    const tallest = Math.max(...heights);
    layers.forEach((nodes, l) => {
      let y = (tallest - heights[l]) / 2;
      for (const id of nodes) { positions[id] = { x: 40 + l * colW, y: 40 + y }; y += sizes[id].h + gap; }
    });
    canvas.moveNodes(positions);
    changed("layout");
    canvas.fit();
    drawMinimap();
  }

  // ------------------------------------------------------------------ minimap

  const mini = $("#minimap");
  let miniFrame = 0;
  let miniView = null;
  function drawMinimap() {
    if (miniFrame) return;
    miniFrame = requestAnimationFrame(() => {
      miniFrame = 0;
      const ctx = mini.getContext("2d");
      const W = mini.width, H = mini.height;
      ctx.clearRect(0, 0, W, H);
      const b = canvas.bounds();
      mini.hidden = !b;
      if (!b) { miniView = null; return; }
      const vp = canvas.viewport();
      const tl = canvas.toCanvas(stage.getBoundingClientRect().left, stage.getBoundingClientRect().top);
      const view = { x0: tl.x, y0: tl.y, x1: tl.x + vp.w / vp.zoom, y1: tl.y + vp.h / vp.zoom };
      const x0 = Math.min(b.x0, view.x0) - 40, y0 = Math.min(b.y0, view.y0) - 40;
      const x1 = Math.max(b.x1, view.x1) + 40, y1 = Math.max(b.y1, view.y1) + 40;
      const s = Math.min(W / (x1 - x0), H / (y1 - y0));
      miniView = { x0, y0, s };
      const sizes = canvas.sizes();
      for (const id of canvas.order) {
        const p = canvas.position(id);
        const status = (canvas.statuses.get(id) || {}).status;
        ctx.fillStyle = status === "succeeded" ? "#0f8a4f" : status === "failed" ? "#d02b2b" : status === "running" ? "#2563eb" : canvas.selection.has(id) ? "#5b4ff0" : "#aab0c4";
        ctx.fillRect((p.x - x0) * s, (p.y - y0) * s, Math.max(2, sizes[id].w * s), Math.max(2, sizes[id].h * s));
      }
      ctx.strokeStyle = "#5b4ff0";
      ctx.lineWidth = 1.5;
      ctx.strokeRect((view.x0 - x0) * s, (view.y0 - y0) * s, (view.x1 - view.x0) * s, (view.y1 - view.y0) * s);
    });
  }
  function miniJump(e) {
    if (!miniView) return;
    const r = mini.getBoundingClientRect();
    const cx = miniView.x0 + (e.clientX - r.left) * (mini.width / r.width) / miniView.s;
    const cy = miniView.y0 + (e.clientY - r.top) * (mini.height / r.height) / miniView.s;
    canvas.centreOn(cx, cy, canvas.viewport().zoom);
  }
  mini.addEventListener("mousedown", (e) => { miniJump(e); const move = (ev) => miniJump(ev); window.addEventListener("mousemove", move); window.addEventListener("mouseup", () => window.removeEventListener("mousemove", move), { once: true }); });
  canvas.df.on("zoom", (z) => { $("#zoom-value").textContent = Math.round(z * 100) + "%"; drawMinimap(); });
  canvas.df.on("translate", () => drawMinimap());
  canvas.df.on("nodeMoved", () => drawMinimap());

  // ------------------------------------------------------------------ inspector

  function openNode(id) {
    state.openNode = id;
    if (!panelOpen("side")) setPanel("side", true, false);
    if (state.run && state.run.id && runTabActive()) { showStep(id); return; }
    showTab("inspector");
    const node = canvas.nodes.get(id);
    if (!node) return;
    window.htmx.ajax("POST", boot.urls.inspector, {
      target: "#inspector", swap: "innerHTML",
      values: { node: JSON.stringify(node), _open: "1" },
    });
  }

  function runTabActive() {
    const tab = $(".ed-tab.is-active");
    return Boolean(tab && tab.dataset.tab === "run");
  }

  function closeInspector() {
    state.openNode = null;
    $("#inspector").innerHTML = '<div class="ed-pane__empty"><p><strong>Nothing selected.</strong></p><p class="muted">' +
      (editable ? "Click a node to configure it." : "Click a node to see its configuration.") + "</p></div>";
  }

  /** Apply a validated inspector result (config, label, ports) to its node. */
  function applyInspector(result) {
    if (!result || result.opened || !result.valid || !canvas.nodes.has(result.node_id)) return;
    const node = canvas.nodes.get(result.node_id);
    const sameConfig = JSON.stringify(node.config) === JSON.stringify(result.config);
    if (sameConfig && node.label === result.label) return;
    const oldPorts = JSON.stringify(canvas.ports.get(result.node_id));
    const portsChanged = oldPorts !== JSON.stringify(result.ports);
    const dropped = canvas.updateNode(result.node_id, { label: result.label, config: result.config, ports: portsChanged ? result.ports : undefined });
    if (dropped.length) toast(dropped.length + " connection(s) removed: their port no longer exists.", "warning");
    const form = $("#insp-form");
    if (form) { const hidden = form.querySelector('input[name="node"]'); if (hidden) hidden.value = JSON.stringify(canvas.nodes.get(result.node_id)); }
    changed("config");
  }

  function consumeInspectorResult() {
    const holder = document.getElementById("inspector-result");
    const script = holder && holder.querySelector(".insp-result");
    if (script && script.textContent) {
      const result = JSON.parse(script.textContent);
      script.textContent = "";
      applyInspector(result);
    }
  }

  document.body.addEventListener("htmx:afterSettle", (e) => {
    consumeInspectorResult();
    // A comparison of two runs opens full width, over the canvas.
    if (e.target && e.target.id === "rundiff-body" && !$("#dlg-rundiff").open) $("#dlg-rundiff").showModal();
    const live = e.target && e.target.querySelector && e.target.querySelector("[data-run-id]");
    if (live && (!state.run || String(state.run.id) !== live.dataset.runId)) {
      for (const other of $$(".ed-runlive")) if (other !== live) other.remove();
      $("#step-slot").innerHTML = "";
      followRun(Number(live.dataset.runId));
    }
  });
  // An inspector keystroke swaps only out-of-band pieces (hx-swap="none"): read the result once the request is done.
  document.body.addEventListener("htmx:afterRequest", () => setTimeout(consumeInspectorResult, 0));
  document.body.addEventListener("htmx:oobAfterSwap", () => consumeInspectorResult());
  // Opening a property's JSON view shows the node's current value (the form may have changed it since).
  document.body.addEventListener("toggle", (e) => {
    const box = e.target;
    if (!box.matches || !box.matches("details.insp-json") || !box.open) return;
    const form = box.closest("#insp-form");
    const node = form && canvas.nodes.get(form.dataset.nodeId);
    const asJson = box.querySelector('input[type="checkbox"]');
    if (!node || (asJson && asJson.checked)) return;
    const value = node.config[box.dataset.prop];
    box.querySelector("textarea").value = value === undefined || value === null ? "" : JSON.stringify(value, null, 2);
  }, true);
  // A signature row's type shows its own extra input at once (choices for enum, item type for list).
  document.body.addEventListener("change", (e) => {
    const select = e.target.closest && e.target.closest(".sig-row__type");
    if (!select) return;
    const row = select.closest(".sig-row");
    for (const el of $$("[data-for-type]", row)) el.hidden = el.dataset.forType !== select.value;
    const choices = $(".sig-row__choices", row);
    if (select.value === "enum" && choices) choices.focus();
  }, true);
  // Keep the posted node in step with the canvas (its position and edges may have changed since the form opened).
  document.body.addEventListener("htmx:configRequest", (e) => {
    const form = e.detail.elt && e.detail.elt.closest && e.detail.elt.closest("#insp-form");
    if (form && canvas.nodes.has(form.dataset.nodeId)) e.detail.parameters.node = JSON.stringify(canvas.nodes.get(form.dataset.nodeId));
  });
  document.body.addEventListener("htmx:responseError", (e) => {
    toast("Request failed: HTTP " + e.detail.xhr.status, "error");
  });

  // ------------------------------------------------------------------ tabs

  function showTab(name) {
    for (const tab of $$(".ed-tab")) { const on = tab.dataset.tab === name; tab.classList.toggle("is-active", on); tab.setAttribute("aria-selected", on); }
    for (const pane of $$(".ed-pane")) pane.classList.toggle("is-active", pane.dataset.pane === name);
  }
  for (const tab of $$(".ed-tab")) {
    tab.addEventListener("click", () => {
      showTab(tab.dataset.tab);
      if (tab.dataset.tab === "runs") window.htmx.ajax("GET", boot.urls.runs, { target: "#runs-pane", swap: "innerHTML" });
      if (tab.dataset.tab === "run" && !$("#run-form-slot").innerHTML.trim() && !state.run) loadRunForm();
      if (tab.dataset.tab === "inspector" && state.openNode && canvas.nodes.has(state.openNode)) openNode(state.openNode);
    });
  }

  // ------------------------------------------------------------------ validate and publish

  function showIssues(issues) {
    for (const el of $$(".drawflow-node.has-issue")) el.classList.remove("has-issue");
    const box = $("#ed-issues");
    if (!issues.length) { box.hidden = true; return; }
    box.hidden = false;
    box.innerHTML = '<div class="ed-issues__head"><b></b><button class="ed-iconbtn ed-iconbtn--sm" aria-label="Close">×</button></div><ul></ul>';
    $("b", box).textContent = issues.length + " problem" + (issues.length > 1 ? "s" : "") + " to fix before publishing";
    $("button", box).onclick = () => { box.hidden = true; };
    for (const issue of issues.slice(0, 30)) {
      const li = document.createElement("li");
      li.textContent = issue.message;
      if (issue.node_id && canvas.nodes.has(issue.node_id)) {
        li.className = "is-link";
        li.onclick = () => { canvas.select([issue.node_id]); canvas.fit([issue.node_id]); openNode(issue.node_id); };
        const el = canvas.element(issue.node_id); if (el) el.classList.add("has-issue");
      }
      $("ul", box).appendChild(li);
    }
  }

  async function validate(quiet) {
    const result = await api("POST", boot.urls.validate, { graph: canvas.toGraph() });
    if (!result.ok) { toast("Could not check the graph.", "error"); return null; }
    showIssues(result.data.issues);
    if (!quiet) result.data.valid ? toast("The graph is valid — ready to publish and run.", "success") : toast(result.data.issues.length + " problem(s) found.", "warning");
    return result.data;
  }

  async function openPublish() {
    if (!(await flush())) return;
    $("#publish-next").textContent = (state.latestVersion || 0) + 1;
    $("#publish-issues").innerHTML = "";
    $("#dlg-publish").showModal();
    $("#publish-note").focus();
  }

  $("#publish-form").addEventListener("submit", async (e) => {
    if (e.submitter && e.submitter.value !== "publish") return;
    e.preventDefault();
    const button = $("#btn-publish-confirm");
    button.disabled = true;
    const result = await api("POST", boot.urls.publish, { note: $("#publish-note").value, base_revision: state.revision });
    button.disabled = false;
    if (result.status === 201) {
      state.latestVersion = result.data.version;
      $("#ed-live").textContent = "live: v" + result.data.version;
      $("#dlg-publish").close();
      $("#publish-note").value = "";
      showIssues([]);
      toast("Published version " + result.data.version + ".", "success");
      return;
    }
    if (result.status === 409) { $("#dlg-publish").close(); state.dirty = true; save(); return; }
    const issues = (result.data && result.data.errors) || [];
    const list = $("#publish-issues");
    list.innerHTML = '<div class="alert alert--error"><strong></strong><ul></ul></div>';
    $("strong", list).textContent = (result.data && result.data.detail) || "Could not publish.";
    for (const issue of issues.slice(0, 12)) { const li = document.createElement("li"); li.textContent = issue.message; $("ul", list).appendChild(li); }
    showIssues(issues);
    toast("Not published: fix the problems first.", "error");
  });

  // ------------------------------------------------------------------ running

  function loadRunForm() {
    window.htmx.ajax("GET", boot.urls.run_form, { target: "#run-form-slot", swap: "innerHTML" });
  }

  async function startRunFlow() {
    if (!boot.can_run) return;
    if (!(await flush())) return;
    showTab("run");
    $("#run-live-slot").innerHTML = "";
    loadRunForm();
  }

  function statusOf(s) { return s === "pending" ? "queued" : s === "not run" ? "not-run" : s; }

  // A run is followed through its live panel (editor-run-live.html): the htmx ws extension applies the
  // run page's own fragments there (one live road, rendered once per event on the server); this paints
  // the canvas from them — node statuses from the hidden #node-status-* spans, streamed text from the
  // #step-stream-* sinks, the end of the run from the run header's class.
  function followRun(runId) {
    state.run = { id: runId, done: false, painted: new Map() };
    canvas.clearStatuses();
    for (const id of canvas.order) canvas.queuePaint(id, { status: "queued", streamReset: true });
    $("#step-slot").innerHTML = "";
    paintFromPanel();
  }

  function paintFromPanel() {
    if (!state.run) return;
    const panel = document.getElementById("run-live-" + state.run.id);
    if (!panel) return;
    for (const el of panel.querySelectorAll(".node-status[data-node]")) {
      const id = el.dataset.node;
      const status = statusOf(el.textContent.trim());
      if (!status || !canvas.nodes.has(id) || state.run.painted.get(id) === status) continue;
      state.run.painted.set(id, status);
      canvas.queuePaint(id, { status: status, streamReset: status === "running" });
      if (status !== "running" && state.openNode === id && runTabActive()) showStep(id);
    }
    for (const sink of panel.querySelectorAll(".ed-stream-sink")) {
      if (!sink.textContent) continue;
      if (canvas.nodes.has(sink.dataset.node)) canvas.queuePaint(sink.dataset.node, { streamAppend: sink.textContent });
      sink.textContent = "";
    }
    const header = panel.querySelector(".run-header");
    const match = header && /run-header--(succeeded|failed|cancelled)/.exec(header.className);
    if (match) finishRun(match[1]);
    drawMinimap();
  }

  document.body.addEventListener("htmx:wsAfterMessage", paintFromPanel);

  function finishRun(status) {
    if (!state.run || state.run.done) return;
    state.run.done = true;
    for (const id of canvas.order) {
      const st = (canvas.statuses.get(id) || {}).status;
      // After a failure or a cancel, the nodes never reached are "not run" (stopped, not failed).
      if (st === "queued") canvas.queuePaint(id, { status: status === "succeeded" ? "skipped" : "not-run" });
      else if (st === "running") canvas.queuePaint(id, { status: status === "cancelled" ? "cancelled" : "failed" });
    }
    const live = document.getElementById("run-live-" + state.run.id);
    if (live) live.dataset.status = status;
    toast("Run #" + state.run.id + " " + status + ".", status === "succeeded" ? "success" : status === "cancelled" ? "info" : "error");
    if (state.openNode && runTabActive()) showStep(state.openNode);
    drawMinimap();
  }

  function showStep(nodeId) {
    if (!state.run) return;
    showTab("run");
    window.htmx.ajax("GET", boot.urls.step.replace("{run}", state.run.id).replace("{node}", encodeURIComponent(nodeId)), { target: "#step-slot", swap: "innerHTML" });
  }

  document.body.addEventListener("click", (e) => {
    const close = e.target.closest("[data-close-step]");
    if (close) { $("#step-slot").innerHTML = ""; return; }
    const focus = e.target.closest("[data-focus-node]");
    if (focus) { e.preventDefault(); const id = focus.dataset.focusNode; if (canvas.nodes.has(id)) { canvas.select([id]); canvas.fit([id]); } return; }
    const show = e.target.closest("[data-show-run]");
    if (show) { showTab("run"); $("#run-live-slot").innerHTML = ""; followRunPanel(Number(show.dataset.showRun)); }
  });

  function followRunPanel(runId) {
    $("#step-slot").innerHTML = "";
    window.htmx.ajax("GET", boot.urls.run_live.replace("{run}", runId), { target: "#run-form-slot", swap: "innerHTML" });
  }

  // The run panel's "New run…" button resets the canvas colours.
  document.body.addEventListener("htmx:beforeRequest", (e) => {
    if (e.detail.elt && e.detail.elt.id === "btn-run-again") { state.run = null; canvas.clearStatuses(); $("#step-slot").innerHTML = ""; }
  });

  // ------------------------------------------------------------------ import / export

  const importInput = $("#import-file");
  if (importInput) {
    importInput.addEventListener("change", async () => {
      const file = importInput.files[0];
      if (!file) return;
      const body = new FormData();
      body.append("file", file);
      const response = await fetch(boot.urls.import, { method: "POST", body, credentials: "same-origin", headers: { "X-CSRFToken": csrf() } });
      const data = await response.json().catch(() => ({}));
      importInput.value = "";
      if (response.status === 201) {
        toast("Imported as “" + data.workflow.name + "”. Opening it…", "success");
        setTimeout(() => { location.href = data.workflow.editor_url; }, 700);
      } else {
        toast("Import refused: " + (data.detail || "HTTP " + response.status), "error", 9000);
      }
    });
  }
  for (const link of $$("[data-export]")) {
    link.addEventListener("click", async (e) => {
      if (state.dirty || state.saving) { e.preventDefault(); if (await flush()) location.href = link.href; }
      $("#menu-export").open = false;
    });
  }

  // ------------------------------------------------------------------ chrome and keys

  function refreshChrome() {
    $("#btn-undo").disabled = !state.undo.length;
    $("#btn-redo").disabled = !state.redo.length;
    refreshEmpty();
    drawMinimap();
  }

  function refreshEmpty() {
    $("#ed-empty").hidden = canvas.order.length > 0 || !editable;
  }

  // The palette and the side panel fold away (the choice is remembered per browser).
  function setPanel(which, open, remember) {
    const body = $(".ed-body");
    body.classList.toggle(which === "palette" ? "is-palette-closed" : "is-side-closed", !open);
    const button = document.getElementById(which === "palette" ? "btn-toggle-palette" : "btn-toggle-side");
    if (button) button.setAttribute("aria-pressed", open ? "true" : "false");
    if (remember) { try { localStorage.setItem("studio.editor." + which, open ? "open" : "closed"); } catch (e) { /* private mode */ } }
    drawMinimap();
  }
  function panelOpen(which) {
    return !$(".ed-body").classList.contains(which === "palette" ? "is-palette-closed" : "is-side-closed");
  }
  for (const which of ["palette", "side"]) {
    let saved = null;
    try { saved = localStorage.getItem("studio.editor." + which); } catch (e) { /* private mode */ }
    if (saved === "closed") setPanel(which, false, false);
  }

  const on = (id, fn) => { const el = document.getElementById(id); if (el) el.addEventListener("click", fn); };
  on("btn-toggle-palette", () => setPanel("palette", !panelOpen("palette"), true));
  on("btn-toggle-side", () => setPanel("side", !panelOpen("side"), true));
  on("btn-undo", undo);
  on("btn-redo", redo);
  on("btn-layout", () => editable && autoLayout());
  on("btn-fit", () => { canvas.fit(); drawMinimap(); });
  on("btn-validate", () => validate(false));
  on("btn-publish", openPublish);
  on("btn-run", startRunFlow);
  on("btn-help", () => $("#dlg-help").showModal());
  on("btn-zoom-in", () => canvas.df.zoom_in());
  on("btn-zoom-out", () => canvas.df.zoom_out());

  document.addEventListener("keydown", (e) => {
    const typing = e.target.closest && e.target.closest("input, textarea, select, [contenteditable]");
    const mod = e.ctrlKey || e.metaKey;
    if (mod && e.key.toLowerCase() === "s") { e.preventDefault(); state.dirty = true; save().then((ok) => ok && toast("Saved.", "success", 1200)); return; }
    if (mod && e.key === "Enter") { e.preventDefault(); startRunFlow(); return; }
    if (typing || $("dialog[open]")) return;
    const key = e.key.toLowerCase();
    if (mod && key === "z" && !e.shiftKey) { e.preventDefault(); if (editable) undo(); }
    else if (mod && (key === "y" || (key === "z" && e.shiftKey))) { e.preventDefault(); if (editable) redo(); }
    else if (mod && key === "c") { copySelection(); }
    else if (mod && key === "v") { e.preventDefault(); if (editable) paste(); }
    else if (mod && key === "d") { e.preventDefault(); if (editable) { copySelection(); paste(); } }
    else if (mod && key === "a") { e.preventDefault(); canvas.select(canvas.order.slice()); }
    else if (e.key === "Delete" || e.key === "Backspace") { e.preventDefault(); e.stopPropagation(); if (editable) deleteSelection(); }
    else if (e.key === "Escape") { canvas.clearSelection(); }
    else if (e.key === "[") { if (editable) setPanel("palette", !panelOpen("palette"), true); }
    else if (e.key === "]") { setPanel("side", !panelOpen("side"), true); }
    else if (key === "f") { canvas.fit(); }
    else if (key === "l") { if (editable) autoLayout(); }
    else if (key === "v") { validate(false); }
    else if (e.key === "?") { $("#dlg-help").showModal(); }
    else if (e.key === "+" || e.key === "=") { canvas.df.zoom_in(); }
    else if (e.key === "-") { canvas.df.zoom_out(); }
  }, true);

  // ------------------------------------------------------------------ start

  renderPalette();
  canvas.load(boot.graph, boot.ports);
  last = snapshot();
  if (canvas.order.length) canvas.fit(); else canvas.setViewport(1, 0, 0);
  refreshChrome();
  if (!editable) setSave("readonly", "Read-only");
  window.studioEditor.ready = true;
  window.studioEditor.api = { undo, redo, save, flush, autoLayout, validate, createNode, paste, copySelection, deleteSelection, followRun };
  document.dispatchEvent(new CustomEvent("studio:editor-ready"));
})();
