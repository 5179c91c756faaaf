/* Studio canvas adapter: our graph document <-> Drawflow (static/vendor/drawflow).
 *
 * The graph document is the model: {schema: 1, nodes: [{id, type, label,
 * config, position}], edges: [{id, source, source_port, target, target_port}]}.
 * Drawflow is only the view: it draws nodes and connections and reports user
 * gestures. Ports are the node's signature fields (from the server), mapped to
 * Drawflow's positional ports: input field k <-> "input_{k+1}", output field k
 * <-> "output_{k+1}".
 *
 * Speed at 300 nodes: nodes are imported in one Drawflow import with its
 * per-node connection pass switched off, then every connection path is
 * computed in one read phase and one write phase (no layout thrashing); status
 * updates are queued and applied once per animation frame.
 */
(function () {
  "use strict";

  const PORT_PITCH = 24; // px between two ports (must match editor.css)
  const FIT_MIN_ZOOM = 0.8; // "Fit" and opening never go below this (readable labels)

  function esc(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  function typeLabel(field) {
    if (!field) return "";
    if (field.type === "list" && field.items) return "list[" + field.items + "]";
    if (field.type === "enum") return "enum";
    return field.type || "str";
  }

  /** Whether an edge may carry `source`'s values into `target` (mirrors agents.engine.signature.is_compatible). */
  function compatible(source, target) {
    if (source.type === target.type) {
      if (source.type === "enum") return (source.choices || []).every((c) => (target.choices || []).includes(c));
      if (source.type === "list" && source.items && target.items) {
        return source.items === target.items || (source.items === "int" && target.items === "float");
      }
      return true;
    }
    return (source.type === "int" && target.type === "float") || (source.type === "enum" && target.type === "str");
  }

  class StudioCanvas {
    /**
     * @param {HTMLElement} container  the #drawflow element
     * @param {object} options  {catalog, editable, onChange(kind), onSelect(ids), onRefuse(reason), onOpen(id)}
     */
    constructor(container, options) {
      this.container = container;
      this.options = options;
      this.catalog = new Map(options.catalog.map((e) => [e.type, e]));
      this.df = new window.Drawflow(container);
      this.df.reroute = false;
      this.df.curvature = 0.42;
      this.df.zoom_min = 0.15;
      this.df.zoom_max = 2;
      this.df.zoom_value = 0.1;
      this.df.editor_mode = options.editable ? "edit" : "view";
      this.df.start();
      this.nodes = new Map(); // id -> graph node (the model)
      this.ports = new Map(); // id -> {inputs: [field], outputs: [field], error}
      this.edges = new Map(); // edge id -> edge
      this.dfOf = new Map(); // id -> drawflow id (string)
      this.idOf = new Map(); // drawflow id -> id
      this.order = []; // node ids in document order
      this.selection = new Set();
      this.statuses = new Map();
      this.muted = 0;
      this.pending = new Map(); // node id -> queued status paint
      this.frame = 0;
      this.wire();
    }

    // ------------------------------------------------------------ model I/O

    /** Replace everything with `graph` (a graph document) and `ports` ({id: {inputs, outputs}}). */
    load(graph, ports) {
      this.muted++;
      try {
        this.df.clear();
        this.nodes.clear(); this.edges.clear(); this.dfOf.clear(); this.idOf.clear(); this.ports.clear();
        this.selection.clear();
        this.order = [];
        const data = {};
        let next = 1;
        for (const node of graph.nodes || []) {
          const dfId = String(next++);
          const copy = JSON.parse(JSON.stringify(node));
          copy.position = copy.position || { x: 0, y: 0 };
          this.nodes.set(node.id, copy);
          this.order.push(node.id);
          this.dfOf.set(node.id, dfId);
          this.idOf.set(dfId, node.id);
          this.ports.set(node.id, (ports && ports[node.id]) || { inputs: [], outputs: [], error: null });
          data[dfId] = this.dfNode(copy, dfId);
        }
        for (const edge of graph.edges || []) {
          const link = this.dfLink(edge);
          if (!link) continue; // an edge to a port that does not exist: dropped (the check lists it)
          this.edges.set(edge.id, Object.assign({}, edge));
          data[link.out].outputs[link.outputClass].connections.push({ node: link.in, output: link.inputClass });
          data[link.in].inputs[link.inputClass].connections.push({ node: link.out, input: link.outputClass });
        }
        const original = this.df.updateConnectionNodes;
        this.df.updateConnectionNodes = function () {}; // done below in one batch
        try {
          this.df.import({ drawflow: { Home: { data } } });
        } finally {
          this.df.updateConnectionNodes = original;
        }
        this.df.nodeId = next;
        this.refreshConnections();
        for (const [id, status] of this.statuses) this.queuePaint(id, status);
      } finally {
        this.muted--;
      }
    }

    /** The current graph document (positions read from Drawflow). */
    toGraph() {
      const nodes = this.order.map((id) => {
        const node = this.nodes.get(id);
        const dfNode = this.df.drawflow.drawflow.Home.data[this.dfOf.get(id)];
        if (dfNode) node.position = { x: Math.round(dfNode.pos_x * 10) / 10, y: Math.round(dfNode.pos_y * 10) / 10 };
        return JSON.parse(JSON.stringify(node));
      });
      return { schema: 1, nodes, edges: Array.from(this.edges.values()).map((e) => Object.assign({}, e)) };
    }

    portsSnapshot() {
      return Object.fromEntries(this.ports);
    }

    // ------------------------------------------------------------ drawflow shapes

    dfNode(node, dfId) {
      const ports = this.ports.get(node.id) || { inputs: [], outputs: [] };
      const inputs = {};
      const outputs = {};
      ports.inputs.forEach((_, i) => { inputs["input_" + (i + 1)] = { connections: [] }; });
      ports.outputs.forEach((_, i) => { outputs["output_" + (i + 1)] = { connections: [] }; });
      return {
        id: Number(dfId), name: node.type, data: { id: node.id }, class: "sn sn--" + node.type + " sn--kind-" + this.kindOf(node.type),
        html: this.nodeHtml(node), typenode: false, inputs, outputs,
        pos_x: node.position.x, pos_y: node.position.y,
      };
    }

    dfLink(edge) {
      const out = this.dfOf.get(edge.source);
      const inn = this.dfOf.get(edge.target);
      if (!out || !inn) return null;
      const sp = this.ports.get(edge.source);
      const tp = this.ports.get(edge.target);
      const si = sp ? sp.outputs.findIndex((f) => f.name === edge.source_port) : -1;
      const ti = tp ? tp.inputs.findIndex((f) => f.name === edge.target_port) : -1;
      if (si < 0 || ti < 0) return null;
      return { out, in: inn, outputClass: "output_" + (si + 1), inputClass: "input_" + (ti + 1) };
    }

    kindOf(type) {
      const entry = this.catalog.get(type);
      return entry ? entry.kind : "unknown";
    }

    nodeHtml(node) {
      const ports = this.ports.get(node.id) || { inputs: [], outputs: [] };
      const entry = this.catalog.get(node.type);
      const rows = Math.max(ports.inputs.length, ports.outputs.length);
      let body = "";
      for (let i = 0; i < rows; i++) {
        const a = ports.inputs[i];
        const b = ports.outputs[i];
        body += '<div class="sn-row">' +
          (a ? '<span class="sn-in" title="' + esc(a.description || a.name) + '">' + esc(a.name) + "<i>" + esc(typeLabel(a)) + "</i></span>" : "<span></span>") +
          (b ? '<span class="sn-out" title="' + esc(b.description || b.name) + '"><i>' + esc(typeLabel(b)) + "</i>" + esc(b.name) + "</span>" : "<span></span>") +
          "</div>";
      }
      const endpoint = node.config && node.config.endpoint ? " · " + esc(node.config.endpoint) : "";
      const warn = ports.error ? '<div class="sn-warn" title="' + esc(ports.error) + '">⚠ ' + esc(ports.error).slice(0, 80) + "</div>" : "";
      return '<div class="sn-card" data-node="' + esc(node.id) + '">' +
        '<div class="sn-head"><span class="sn-ico node-type node-type--' + esc(node.type) + '" aria-hidden="true">' + (entry && entry.icon ? entry.icon : "") + "</span>" +
        '<div class="sn-titles"><div class="sn-title">' + esc(node.label || (entry ? entry.title : node.type)) + "</div>" +
        '<div class="sn-sub">' + esc(entry ? entry.title : node.type) + endpoint + "</div></div>" +
        '<span class="sn-badge" aria-label="status"></span></div>' +
        '<div class="sn-ports">' + (body || '<div class="sn-row sn-row--empty"><span>no ports yet</span></div>') + "</div>" +
        warn + '<div class="sn-foot"><span class="sn-metrics"></span></div><div class="sn-stream"></div></div>';
    }

    element(id) {
      return document.getElementById("node-" + this.dfOf.get(id));
    }

    // ------------------------------------------------------------ editing

    /** Add a node (a graph node object) with its ports; returns its id. */
    addNode(node, ports) {
      this.muted++;
      try {
        node = JSON.parse(JSON.stringify(node));
        this.nodes.set(node.id, node);
        this.order.push(node.id);
        this.ports.set(node.id, ports || { inputs: [], outputs: [], error: null });
        const shape = this.dfNode(node, "0");
        const dfId = String(this.df.addNode(node.type, Object.keys(shape.inputs).length, Object.keys(shape.outputs).length,
          node.position.x, node.position.y, shape.class, shape.data, shape.html, false));
        this.dfOf.set(node.id, dfId);
        this.idOf.set(dfId, node.id);
        return node.id;
      } finally {
        this.muted--;
      }
    }

    removeNodes(ids) {
      this.muted++;
      try {
        for (const id of ids) {
          const dfId = this.dfOf.get(id);
          for (const [eid, e] of this.edges) if (e.source === id || e.target === id) this.edges.delete(eid);
          if (dfId) this.df.removeNodeId("node-" + dfId);
          this.nodes.delete(id); this.ports.delete(id); this.dfOf.delete(id); this.idOf.delete(dfId);
          this.selection.delete(id); this.statuses.delete(id);
          this.order = this.order.filter((x) => x !== id);
        }
      } finally {
        this.muted--;
      }
    }

    /** Add an edge if its ports exist and fit; returns null or the reason it was refused. */
    connect(edge) {
      const reason = this.refusal(edge);
      if (reason) return reason;
      const link = this.dfLink(edge);
      this.muted++;
      try {
        this.df.addConnection(link.out, link.in, link.outputClass, link.inputClass);
      } finally {
        this.muted--;
      }
      this.edges.set(edge.id, Object.assign({}, edge));
      return null;
    }

    /** Why an edge cannot be made (null when it can): port types from the signatures. */
    refusal(edge) {
      if (edge.source === edge.target) return "A node cannot feed itself.";
      const sp = this.ports.get(edge.source);
      const tp = this.ports.get(edge.target);
      const source = sp && sp.outputs.find((f) => f.name === edge.source_port);
      const target = tp && tp.inputs.find((f) => f.name === edge.target_port);
      if (!source || !target) return "That port no longer exists.";
      if (!compatible(source, target)) {
        let hint = "";
        if (target.type === "str") hint = " Put a Template node in between to format it as text.";
        return "Type mismatch: " + this.title(edge.source) + "." + source.name + " is " + typeLabel(source) +
          (source.type === "enum" ? "(" + (source.choices || []).join("|") + ")" : "") +
          " but " + this.title(edge.target) + "." + target.name + " expects " + typeLabel(target) +
          (target.type === "enum" ? "(" + (target.choices || []).join("|") + ")" : "") + "." + hint;
      }
      for (const e of this.edges.values()) {
        if (e.target === edge.target && e.target_port === edge.target_port && e.id !== edge.id) {
          return "Input “" + target.name + "” of " + this.title(edge.target) + " is already connected; an input port takes one edge.";
        }
      }
      if (this.reaches(edge.target, edge.source)) return "That connection would make a cycle; use a Loop node to repeat work.";
      return null;
    }

    reaches(from, to) {
      const seen = new Set([from]);
      const stack = [from];
      while (stack.length) {
        const current = stack.pop();
        if (current === to) return true;
        for (const e of this.edges.values()) {
          if (e.source === current && !seen.has(e.target)) { seen.add(e.target); stack.push(e.target); }
        }
      }
      return false;
    }

    title(id) {
      const node = this.nodes.get(id);
      return "“" + ((node && node.label) || id) + "”";
    }

    /** Apply a new label/config/ports to a node; edges whose ports vanished are dropped (returned). */
    updateNode(id, { label, config, ports }) {
      const node = this.nodes.get(id);
      if (!node) return [];
      if (label !== undefined) node.label = label;
      if (config !== undefined) node.config = config;
      const dropped = [];
      if (ports) {
        this.ports.set(id, ports);
        for (const [eid, e] of this.edges) {
          const stillOut = e.source !== id || ports.outputs.some((f) => f.name === e.source_port);
          const stillIn = e.target !== id || ports.inputs.some((f) => f.name === e.target_port);
          if (!stillOut || !stillIn) { dropped.push(e); this.edges.delete(eid); }
        }
        this.rebuildPorts(id);
      } else {
        const el = this.element(id);
        if (el) el.querySelector(".drawflow_content_node").innerHTML = this.nodeHtml(node);
      }
      return dropped;
    }

    rebuildPorts(id) {
      const dfId = this.dfOf.get(id);
      const data = this.df.drawflow.drawflow.Home.data[dfId];
      if (!data) return;
      const ports = this.ports.get(id);
      this.muted++;
      try {
        this.df.removeConnectionNodeId("node-" + dfId);
        while (Object.keys(data.inputs).length > ports.inputs.length) this.df.removeNodeInput(dfId, "input_" + Object.keys(data.inputs).length);
        while (Object.keys(data.outputs).length > ports.outputs.length) this.df.removeNodeOutput(dfId, "output_" + Object.keys(data.outputs).length);
        while (Object.keys(data.inputs).length < ports.inputs.length) this.df.addNodeInput(dfId);
        while (Object.keys(data.outputs).length < ports.outputs.length) this.df.addNodeOutput(dfId);
        const el = this.element(id);
        if (el) el.querySelector(".drawflow_content_node").innerHTML = this.nodeHtml(this.nodes.get(id));
        for (const e of this.edges.values()) {
          if (e.source !== id && e.target !== id) continue;
          const link = this.dfLink(e);
          if (link) this.df.addConnection(link.out, link.in, link.outputClass, link.inputClass);
        }
      } finally {
        this.muted--;
      }
      this.refreshConnections([id]);
    }

    /** Move nodes to new positions {id: {x, y}} in one batch. */
    moveNodes(positions) {
      const data = this.df.drawflow.drawflow.Home.data;
      for (const [id, pos] of Object.entries(positions)) {
        const dfId = this.dfOf.get(id);
        const el = this.element(id);
        if (!dfId || !el) continue;
        data[dfId].pos_x = pos.x; data[dfId].pos_y = pos.y;
        this.nodes.get(id).position = { x: pos.x, y: pos.y };
        el.style.left = pos.x + "px"; el.style.top = pos.y + "px";
      }
      this.refreshConnections(Object.keys(positions));
    }

    position(id) {
      const data = this.df.drawflow.drawflow.Home.data[this.dfOf.get(id)];
      return data ? { x: data.pos_x, y: data.pos_y } : { x: 0, y: 0 };
    }

    /** Node sizes {id: {w, h}} measured in one read pass (canvas units). */
    sizes(ids) {
      const out = {};
      for (const id of ids || this.order) {
        const el = this.element(id);
        out[id] = el ? { w: el.offsetWidth, h: el.offsetHeight } : { w: 240, h: 110 };
      }
      return out;
    }

    /** Recompute connection paths touching `ids` (all when omitted): every read, then every write. */
    refreshConnections(ids) {
      const precanvas = this.df.precanvas;
      let connections;
      if (ids) {
        const set = new Set();
        for (const id of ids) {
          const dfId = this.dfOf.get(id);
          if (!dfId) continue;
          precanvas.querySelectorAll(".node_in_node-" + dfId + ",.node_out_node-" + dfId).forEach((c) => set.add(c));
        }
        connections = Array.from(set);
      } else {
        connections = Array.from(precanvas.querySelectorAll(".connection"));
      }
      if (!connections.length) return;
      const zoom = this.df.zoom || 1;
      const base = precanvas.getBoundingClientRect();
      const centre = new Map();
      const point = (el) => {
        if (!centre.has(el)) {
          const r = el.getBoundingClientRect();
          centre.set(el, { x: el.offsetWidth / 2 + (r.x - base.x) / zoom, y: el.offsetHeight / 2 + (r.y - base.y) / zoom });
        }
        return centre.get(el);
      };
      const plans = [];
      for (const c of connections) {
        const cls = c.classList; // connection node_in_node-X node_out_node-Y output_k input_j
        const inNode = document.getElementById(cls[1].slice(8));
        const outNode = document.getElementById(cls[2].slice(9));
        if (!inNode || !outNode) continue;
        const outPort = outNode.querySelector(".outputs ." + cls[3]);
        const inPort = inNode.querySelector(".inputs ." + cls[4]);
        if (!outPort || !inPort) continue;
        const a = point(outPort);
        const b = point(inPort);
        plans.push([c.firstElementChild, this.df.createCurvature(a.x, a.y, b.x, b.y, this.df.curvature, "openclose")]);
      }
      for (const [path, d] of plans) if (path) path.setAttributeNS(null, "d", d);
    }

    // ------------------------------------------------------------ selection

    select(ids, { add = false } = {}) {
      if (!add) for (const id of this.selection) if (!ids.includes(id)) this.markSelected(id, false);
      if (!add) this.selection = new Set();
      for (const id of ids) { this.selection.add(id); this.markSelected(id, true); }
      this.options.onSelect(Array.from(this.selection));
    }

    toggle(id) {
      if (this.selection.has(id)) { this.selection.delete(id); this.markSelected(id, false); }
      else { this.selection.add(id); this.markSelected(id, true); }
      this.options.onSelect(Array.from(this.selection));
    }

    clearSelection() {
      for (const id of this.selection) this.markSelected(id, false);
      this.selection.clear();
      this.options.onSelect([]);
    }

    markSelected(id, on) {
      const el = this.element(id);
      if (el) el.classList.toggle("is-picked", on);
    }

    // ------------------------------------------------------------ run status

    /** Queue a status paint {status, input_tokens, output_tokens, cost_usd, duration_ms, stream}. */
    queuePaint(id, patch) {
      const prev = this.pending.get(id) || {};
      const merged = Object.assign({}, prev, patch);
      if (patch.streamAppend) merged.streamAppend = (prev.streamAppend || "") + patch.streamAppend;
      this.pending.set(id, merged);
      const current = Object.assign({}, this.statuses.get(id) || {}, patch);
      delete current.streamAppend;
      this.statuses.set(id, current);
      if (!this.frame) this.frame = requestAnimationFrame(() => this.flushPaint());
    }

    flushPaint() {
      this.frame = 0;
      for (const [id, p] of this.pending) {
        const el = this.element(id);
        if (!el) continue;
        if (p.status) el.dataset.status = p.status;
        const badge = el.querySelector(".sn-badge");
        if (badge && p.status) { badge.textContent = p.status === "succeeded" ? "done" : p.status === "not-run" ? "not run" : p.status; badge.className = "sn-badge badge badge--" + p.status; }
        const metrics = el.querySelector(".sn-metrics");
        if (metrics && (p.input_tokens !== undefined || p.duration_ms !== undefined)) {
          const tokens = (p.input_tokens || 0) + (p.output_tokens || 0);
          const parts = [];
          if (tokens) parts.push(tokens + " tok");
          if (p.cost_usd !== undefined && p.cost_usd !== null && tokens) parts.push("$" + Number(p.cost_usd).toFixed(4));
          if (p.duration_ms) parts.push(p.duration_ms >= 1000 ? (p.duration_ms / 1000).toFixed(1) + " s" : Math.round(p.duration_ms) + " ms");
          metrics.textContent = parts.join(" · ");
        }
        const stream = el.querySelector(".sn-stream");
        if (stream) {
          if (p.streamReset) stream.textContent = "";
          if (p.streamAppend) stream.textContent = (stream.textContent + p.streamAppend).slice(-280);
          // Streamed text shows while the node runs; its output is one click away afterwards (steady node heights).
          if (p.status && p.status !== "running") stream.textContent = "";
        }
      }
      this.pending.clear();
    }

    clearStatuses() {
      this.statuses.clear();
      this.pending.clear();
      for (const id of this.order) {
        const el = this.element(id);
        if (!el) continue;
        delete el.dataset.status;
        const badge = el.querySelector(".sn-badge"); if (badge) { badge.textContent = ""; badge.className = "sn-badge"; }
        const m = el.querySelector(".sn-metrics"); if (m) m.textContent = "";
        const s = el.querySelector(".sn-stream"); if (s) s.textContent = "";
      }
    }

    // ------------------------------------------------------------ viewport

    viewport() {
      return { zoom: this.df.zoom, x: this.df.canvas_x, y: this.df.canvas_y, w: this.container.clientWidth, h: this.container.clientHeight };
    }

    setViewport(zoom, x, y) {
      const df = this.df;
      df.zoom = Math.max(df.zoom_min, Math.min(df.zoom_max, zoom));
      df.zoom_last_value = df.zoom;
      df.canvas_x = x; df.canvas_y = y;
      df.precanvas.style.transform = "translate(" + x + "px, " + y + "px) scale(" + df.zoom + ")";
      df.dispatch("zoom", df.zoom);
      df.dispatch("translate", { x, y });
    }

    /** Client (screen) coordinates -> canvas coordinates. */
    toCanvas(clientX, clientY) {
      const rect = this.container.getBoundingClientRect();
      const { zoom, x, y, w, h } = this.viewport();
      const sx = clientX - rect.left;
      const sy = clientY - rect.top;
      return { x: w / 2 + (sx - w / 2 - x) / zoom, y: h / 2 + (sy - h / 2 - y) / zoom };
    }

    /** Centre the viewport on canvas point (cx, cy) at `zoom`. */
    centreOn(cx, cy, zoom) {
      const { w, h } = this.viewport();
      this.setViewport(zoom, -(cx - w / 2) * zoom, -(cy - h / 2) * zoom);
    }

    bounds(ids) {
      const list = ids && ids.length ? ids : this.order;
      if (!list.length) return null;
      const sizes = this.sizes(list);
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (const id of list) {
        const p = this.position(id);
        x0 = Math.min(x0, p.x); y0 = Math.min(y0, p.y);
        x1 = Math.max(x1, p.x + sizes[id].w); y1 = Math.max(y1, p.y + sizes[id].h);
      }
      return { x0, y0, x1, y1 };
    }

    /**
     * Fit the graph (or `ids`) in the viewport, at 100 % at most and FIT_MIN_ZOOM at least: below that
     * node labels are unreadable (14 px titles render under 11 px). A graph too big for the minimum zoom
     * is shown from its left edge (where the inputs are), centred vertically when it fits that way.
     */
    fit(ids) {
      const b = this.bounds(ids);
      if (!b) { this.setViewport(1, 0, 0); return; }
      const { w, h } = this.viewport();
      const pad = 40;
      const fitting = Math.min((w - 2 * pad) / (b.x1 - b.x0), (h - 2 * pad) / (b.y1 - b.y0), 1);
      const zoom = Math.max(FIT_MIN_ZOOM, fitting);
      const cx = (b.x1 - b.x0) * zoom <= w - 2 * pad ? (b.x0 + b.x1) / 2 : b.x0 - pad / zoom + w / 2 / zoom;
      const cy = (b.y1 - b.y0) * zoom <= h - 2 * pad ? (b.y0 + b.y1) / 2 : b.y0 - pad / zoom + h / 2 / zoom;
      this.centreOn(cx, cy, zoom);
    }

    // ------------------------------------------------------------ drawflow events

    wire() {
      const df = this.df;
      df.on("connectionCreated", (c) => {
        if (this.muted) return;
        const source = this.idOf.get(String(c.output_id));
        const target = this.idOf.get(String(c.input_id));
        const sp = this.ports.get(source);
        const tp = this.ports.get(target);
        const si = parseInt(String(c.output_class).slice(7), 10) - 1;
        const ti = parseInt(String(c.input_class).slice(6), 10) - 1;
        const edge = {
          id: "e_" + Math.random().toString(36).slice(2, 12), source, target,
          source_port: sp && sp.outputs[si] ? sp.outputs[si].name : "", target_port: tp && tp.inputs[ti] ? tp.inputs[ti].name : "",
        };
        const reason = this.refusal(edge);
        if (reason) {
          this.muted++;
          try { df.removeSingleConnection(c.output_id, c.input_id, c.output_class, c.input_class); } finally { this.muted--; }
          this.options.onRefuse(reason, edge);
          return;
        }
        this.edges.set(edge.id, edge);
        this.options.onChange("connect");
      });
      df.on("connectionRemoved", (c) => {
        if (this.muted) return;
        const source = this.idOf.get(String(c.output_id));
        const target = this.idOf.get(String(c.input_id));
        const sp = this.ports.get(source);
        const tp = this.ports.get(target);
        const sname = sp && sp.outputs[parseInt(String(c.output_class).slice(7), 10) - 1];
        const tname = tp && tp.inputs[parseInt(String(c.input_class).slice(6), 10) - 1];
        for (const [eid, e] of this.edges) {
          if (e.source === source && e.target === target && sname && tname && e.source_port === sname.name && e.target_port === tname.name) {
            this.edges.delete(eid);
          }
        }
        this.options.onChange("disconnect");
      });
      df.on("nodeRemoved", (dfId) => {
        if (this.muted) return;
        const id = this.idOf.get(String(dfId));
        if (!id) return;
        for (const [eid, e] of this.edges) if (e.source === id || e.target === id) this.edges.delete(eid);
        this.nodes.delete(id); this.ports.delete(id); this.dfOf.delete(id); this.idOf.delete(String(dfId));
        this.selection.delete(id);
        this.order = this.order.filter((x) => x !== id);
        this.options.onChange("delete");
      });
      df.on("nodeMoved", (dfId) => {
        if (this.muted) return;
        const id = this.idOf.get(String(dfId));
        if (id) this.nodes.get(id).position = this.position(id);
        if (this.options.onMoved) this.options.onMoved(id);
        this.options.onChange("move");
      });
      df.on("nodeSelected", (dfId) => {
        const id = this.idOf.get(String(dfId));
        if (!id) return;
        if (this.shiftDown) return; // handled by the click handler (toggle)
        if (!this.selection.has(id) || this.selection.size === 1) this.select([id]);
        if (this.options.onOpen) this.options.onOpen(id);
      });
      df.on("nodeUnselected", () => {
        if (!this.shiftDown && !this.groupDrag) this.clearSelection();
      });
    }
  }

  window.StudioCanvas = StudioCanvas;
  window.StudioCanvas.compatible = compatible;
  window.StudioCanvas.typeLabel = typeLabel;
  window.StudioCanvas.PORT_PITCH = PORT_PITCH;
  window.StudioCanvas.FIT_MIN_ZOOM = FIT_MIN_ZOOM;
})();
