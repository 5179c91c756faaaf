// The prompt version editor (templates/prompts/prompt_editor.html). The form works without this file;
// this adds CodeMirror 5's Jinja2 highlighting to every message, add / remove / reorder of messages,
// and live variable detection: as you type, the server parses the templates (the same sandbox that
// renders them) and answers which variables they read and which message does not parse. New variables
// get a row (type + description); rows of variables no message reads any more are taken out (their
// type and description are kept in case the name comes back).
(function () {
  "use strict";

  const form = document.getElementById("prompt-editor");
  if (!form) return;
  const list = document.getElementById("message-list");
  const rowsBody = document.getElementById("variable-rows");
  const template = document.getElementById("message-template");
  const editors = new Map(); // textarea -> CodeMirror instance
  const stash = new Map(); // variable name -> {type, description, choices, items}
  let timer = null;
  let sequence = 0;

  function csrfHeaders() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}");
    } catch (error) {
      return {};
    }
  }

  function attach(textarea) {
    if (!window.CodeMirror || editors.has(textarea)) return;
    const cm = window.CodeMirror.fromTextArea(textarea, {
      mode: "jinja2",
      lineWrapping: true,
      lineNumbers: false,
      viewportMargin: Infinity,
    });
    cm.on("change", () => {
      cm.save();
      schedule();
    });
    editors.set(textarea, cm);
  }

  function contents() {
    return Array.from(list.querySelectorAll("textarea[name=content]")).map((textarea) => {
      const cm = editors.get(textarea);
      return cm ? cm.getValue() : textarea.value;
    });
  }

  function renumber() {
    list.querySelectorAll("[data-message-row]").forEach((row, index) => {
      const n = index + 1;
      row.querySelector("select[name=role]").setAttribute("aria-label", `Role of message ${n}`);
      row.querySelector("textarea[name=content]").setAttribute("aria-label", `Content of message ${n}`);
    });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(detect, 250);
  }

  async function detect() {
    const body = new URLSearchParams();
    contents().forEach((text) => body.append("content", text));
    const mine = ++sequence;
    let data;
    try {
      const response = await fetch(form.dataset.detectUrl, {
        method: "POST",
        headers: csrfHeaders(),
        body,
        credentials: "same-origin",
      });
      if (!response.ok) return;
      data = await response.json();
    } catch (error) {
      return; // offline: the server checks again when the version is committed
    }
    if (mine !== sequence) return; // an answer to older text
    list.querySelectorAll("[data-message-row]").forEach((row, index) => {
      const box = row.querySelector(".message-row__error");
      const message = data.errors[String(index)];
      box.textContent = message ? `Does not parse: ${message}` : "";
      box.hidden = !message;
      row.classList.toggle("has-error", Boolean(message));
    });
    if (Object.keys(data.errors).length === 0) syncVariables(data.variables);
  }

  function rowValues(row) {
    const get = (name) => row.querySelector(`[name=${name}]`).value;
    return { type: get("var_type"), description: get("var_description"), choices: get("var_choices"), items: get("var_items") };
  }

  function newRow(name) {
    const blank = rowsBody.querySelector('tr[data-variable=""]');
    const row = blank.cloneNode(true);
    row.hidden = false;
    row.dataset.variable = name;
    const nameInput = row.querySelector("[name=var_name]");
    nameInput.value = name;
    nameInput.readOnly = true;
    nameInput.removeAttribute("placeholder");
    const kept = stash.get(name);
    if (kept) {
      row.querySelector("[name=var_type]").value = kept.type;
      row.querySelector("[name=var_description]").value = kept.description;
      row.querySelector("[name=var_choices]").value = kept.choices;
      row.querySelector("[name=var_items]").value = kept.items;
    } else {
      row.querySelector("[name=var_description]").value = "";
    }
    for (const field of row.querySelectorAll("[aria-label]")) {
      field.setAttribute("aria-label", field.getAttribute("aria-label").replace("the new variable", name).replace("New variable name", "Variable name"));
    }
    showTypeInputs(row);
    rowsBody.insertBefore(row, blank);
    return row;
  }

  function syncVariables(names) {
    const wanted = new Set(names);
    for (const row of rowsBody.querySelectorAll("tr[data-variable]")) {
      const name = row.dataset.variable;
      if (name && !wanted.has(name)) {
        stash.set(name, rowValues(row));
        row.remove();
      }
    }
    const present = new Set(Array.from(rowsBody.querySelectorAll("tr[data-variable]")).map((row) => row.dataset.variable));
    const blank = rowsBody.querySelector('tr[data-variable=""]');
    for (const name of names) {
      if (!present.has(name)) newRow(name);
    }
    // Keep the rows in the order the messages first use them.
    for (const name of names) {
      const row = rowsBody.querySelector(`tr[data-variable="${CSS.escape(name)}"]`);
      if (row) rowsBody.insertBefore(row, blank);
    }
    document.getElementById("variable-count").textContent = String(names.length);
  }

  function showTypeInputs(row) {
    const type = row.querySelector("[name=var_type]").value;
    row.querySelector("[name=var_choices]").hidden = type !== "enum";
    row.querySelector("[name=var_items]").hidden = type !== "list";
  }

  form.addEventListener("click", (event) => {
    const button = event.target.closest("[data-editor-action]");
    if (!button) return;
    const action = button.dataset.editorAction;
    if (action === "add-message") {
      const row = template.content.firstElementChild.cloneNode(true);
      list.appendChild(row);
      const textarea = row.querySelector("textarea");
      attach(textarea);
      renumber();
      const cm = editors.get(textarea);
      if (cm) cm.focus(); else textarea.focus();
      return;
    }
    const row = button.closest("[data-message-row]");
    if (!row) return;
    if (action === "remove") {
      if (list.querySelectorAll("[data-message-row]").length === 1) return;
      editors.delete(row.querySelector("textarea"));
      row.remove();
    } else if (action === "up" && row.previousElementSibling) {
      list.insertBefore(row, row.previousElementSibling);
    } else if (action === "down" && row.nextElementSibling) {
      list.insertBefore(row.nextElementSibling, row);
    }
    const cm = editors.get(row.querySelector("textarea"));
    if (cm) cm.refresh();
    button.focus();
    renumber();
    schedule();
  });

  form.addEventListener("change", (event) => {
    if (event.target.matches("[name=var_type]")) showTypeInputs(event.target.closest("tr"));
  });

  form.addEventListener("submit", () => {
    editors.forEach((cm) => cm.save());
  });

  function start() {
    list.querySelectorAll("textarea[name=content]").forEach(attach);
    const blank = rowsBody.querySelector('tr[data-variable=""]');
    if (blank) blank.hidden = true; // detection manages the rows
    rowsBody.querySelectorAll("tr[data-variable]").forEach((row) => {
      row.querySelector("[name=var_name]").readOnly = true;
      showTypeInputs(row);
    });
    schedule();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
