// The Surveyor console: a client of the service's own /v1 API, nothing more.
// Everything is built with DOM calls and textContent (never innerHTML), so a
// name or an error message from a source cannot inject markup.

const main = document.getElementById("main");
let refresh = null; // the current page's polling timer

// ---------- DOM and API helpers ----------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style") el.style.cssText = v; // CSSOM: allowed by the page's CSP, a style attribute is not
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const token = () => sessionStorage.getItem("surveyor-token");

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (response.status === 401) {
    sessionStorage.removeItem("surveyor-token");
    render();
    throw new ApiError(401, "the admin token was refused");
  }
  if (!response.ok) throw new ApiError(response.status, data?.error?.message || `${response.status} ${response.statusText}`);
  return data;
}
const get = (path) => api("GET", path);
const enc = encodeURIComponent;

function errorBox(e) { return h("div", { class: "error", role: "alert" }, e.message || String(e)); }
function badge(state) { return h("span", { class: `badge state-${state}` }, state.replaceAll("_", " ")); }
function when(ts) { return ts ? new Date(ts).toLocaleString() : "—"; }
function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}
function table(headers, rows, empty = "Nothing here yet.") {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))));
}
let flash = null; // a message for the next page shown ("Saved.")
function page(title, ...content) {
  const parts = [h("h1", {}, title), flash ? h("p", { class: "ok", id: "flash" }, flash) : null, ...content];
  main.replaceChildren(...parts.flat().filter((p) => p !== null && p !== undefined && p !== false));
  flash = null;
}
// Shows `hash` with a message, re-rendering when it is already the current page.
function go(hash, message) {
  flash = message;
  if (location.hash === hash) render(); else location.hash = hash;
}
function tabs(base, active, names) {
  return h("nav", { class: "tabs" }, names.map(([id, label]) =>
    h("a", { href: `${base}/${id}`, class: id === active ? "active" : undefined }, label)));
}
function poll(fn, ms) { refresh = setInterval(() => fn().catch(() => {}), ms); }
async function copy(text) {
  try { await navigator.clipboard.writeText(text); } catch {
    const area = h("textarea", {}, text);
    document.body.append(area); area.select(); document.execCommand("copy"); area.remove();
  }
}

// ---------- login ----------

function login() {
  const input = h("input", { type: "password", id: "token", autocomplete: "off", placeholder: "contents of <data-dir>/admin-token" });
  const out = h("div");
  const form = h("form", { id: "login", onsubmit: async (e) => {
    e.preventDefault();
    const candidate = input.value.trim();
    const r = await fetch("/v1/integration-runtimes", { headers: { Authorization: `Bearer ${candidate}` } });
    if (!r.ok) {
      const body = await r.json().catch(() => null);
      out.replaceChildren(errorBox(new Error(body?.error?.message || `${r.status} ${r.statusText}`)));
      return;
    }
    sessionStorage.setItem("surveyor-token", candidate);
    render();
  } }, h("label", {}, h("span", {}, "Admin token"), input), h("button", { class: "primary", type: "submit" }, "Sign in"));
  page("Sign in", h("p", { class: "muted" }, "The console uses the service's API with the admin token; it is kept in this tab only."), form, out);
}

// ---------- integration runtimes ----------

function irStatus(nodes) {
  if (!nodes.length) return "offline";
  if (nodes.some((n) => n.status === "online")) return "online";
  if (nodes.some((n) => n.status === "limited")) return "limited";
  return "offline";
}

async function irList() {
  const [irs, nodes, version] = await Promise.all([get("/v1/integration-runtimes"), get("/v1/nodes"), get("/v1/version")]);
  const name = h("input", { name: "name", required: true, placeholder: "name" });
  const description = h("input", { name: "description", placeholder: "description (optional)" });
  const out = h("div");
  const create = h("form", { id: "create-ir", onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api("POST", "/v1/integration-runtimes", { name: name.value.trim(), description: description.value.trim() || undefined });
      go(`#/irs/${enc(name.value.trim())}/settings`, "Created. Copy a key to register the first node.");
    } catch (err) { out.replaceChildren(errorBox(err)); }
  } }, h("div", { class: "actions" }, name, description, h("button", { class: "primary" }, "Create")));
  const rows = irs.map((ir) => {
    const mine = nodes.filter((n) => n.integration_runtime === ir.name);
    const versions = [...new Set(mine.map((n) => n.version).filter(Boolean))];
    return [h("a", { href: `#/irs/${enc(ir.name)}/settings` }, ir.name), ir.description || "", badge(irStatus(mine)),
      `${mine.length}`, versions.join(", ") || "—", h("span", { class: `state-${version.status}` }, version.expires_on)];
  });
  page("Integration runtimes",
    version.warning ? h("p", { class: "notice" }, version.warning) : null,
    table(["Name", "Description", "Status", "Nodes", "Version", "Expires"], rows, "No integration runtime yet: create one below."),
    h("h2", {}, "New integration runtime"), create, out);
}

async function irPage(name, tab) {
  const ir = await get(`/v1/integration-runtimes/${enc(name)}`);
  const base = `#/irs/${enc(ir.name)}`;
  const head = [tabs(base, tab, [["settings", "Settings"], ["nodes", "Nodes"], ["version", "Version"]])];
  if (tab === "nodes") return irNodes(ir, head);
  if (tab === "version") return irVersion(ir, head);
  return irSettings(ir, head);
}

async function irSettings(ir, head) {
  const keys = await get(`/v1/integration-runtimes/${enc(ir.name)}/keys`);
  const out = h("div");
  const description = h("input", { id: "description", value: ir.description || "" });
  const saveDescription = async () => {
    try {
      await api("PUT", `/v1/integration-runtimes/${enc(ir.name)}`, { description: description.value });
      out.replaceChildren(h("p", { class: "ok" }, "Description saved."));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  };
  const keyRow = (slot, value) => {
    const shown = h("code", { class: "key", dataset: { slot } }, `${value.slice(0, 12)}${"•".repeat(16)}`);
    return [`Key ${slot}`, shown, h("div", { class: "actions" },
      h("button", { dataset: { copy: slot }, onclick: async () => { await copy(value); out.replaceChildren(h("p", { class: "ok" }, `Key ${slot} copied.`)); } }, "Copy"),
      h("button", { class: "danger", dataset: { regenerate: slot }, onclick: async () => {
        if (!confirm(`Regenerate key ${slot}? Nodes registering with the old key ${slot} will be refused; the other key keeps working.`)) return;
        try { await api("POST", `/v1/integration-runtimes/${enc(ir.name)}/keys/${slot}/regenerate`); go(location.hash, `Key ${slot} regenerated.`); }
        catch (e) { out.replaceChildren(errorBox(e)); }
      } }, "Regenerate"))];
  };
  let ingestion = null;
  try { ingestion = (await get(`/v1/integration-runtimes/${enc(ir.name)}/ingestion`)).target; } catch { ingestion = null; }
  page(`Integration runtime ${ir.name}`, ...head,
    h("label", {}, h("span", {}, "Description"), h("div", { class: "actions" }, description, h("button", { onclick: saveDescription }, "Save"))),
    h("h2", {}, "Authentication keys"),
    table(["", "Value", ""], [keyRow(1, keys.key1), keyRow(2, keys.key2)]),
    h("h2", {}, "Ingestion target"),
    ingestion ? h("pre", { class: "mono" }, JSON.stringify(ingestion, null, 2))
      : h("p", { class: "muted" }, "None: runs are written to the service's own output folder (set one with `surveyor ir set-ingestion`)."),
    h("dl", { class: "facts" }, h("dt", {}, "Created"), h("dd", {}, when(ir.created_at)), h("dt", {}, "Nodes"), h("dd", {}, `${ir.nodes} of at most ${ir.max_nodes}`)),
    out);
}

async function irNodes(ir, head) {
  const nodes = await get(`/v1/nodes?integration_runtime=${enc(ir.name)}`);
  const out = h("div");
  const rows = nodes.map((n) => [n.name, badge(n.status), n.ip_address || "—", n.version || "—",
    n.cpu_percent === null || n.cpu_percent === undefined ? "—" : `${n.cpu_percent.toFixed(0)} %`,
    n.memory_total_bytes ? `${bytes(n.memory_used_bytes)} / ${bytes(n.memory_total_bytes)}` : "—",
    `${n.running_jobs}`, when(n.last_heartbeat_at),
    h("button", { class: "danger", dataset: { remove: n.name }, onclick: async () => {
      if (!confirm(`Remove node ${n.name}? Its credential stops working at once; its unfinished units go back to the queue.`)) return;
      try { await api("DELETE", `/v1/nodes/${enc(n.id)}`); go(location.hash, `Node ${n.name} removed.`); } catch (e) { out.replaceChildren(errorBox(e)); }
    } }, "Remove")]);
  page(`Integration runtime ${ir.name}`, ...head,
    table(["Node", "Status", "IP address", "Version", "CPU", "Memory", "Running jobs", "Last heartbeat", ""], rows,
      "No node registered: run `surveyor node register` on a machine with one of the keys."), out);
  poll(async () => { if (location.hash.endsWith("/nodes")) await render(); }, 5000);
}

async function irVersion(ir, head) {
  const [version, update] = await Promise.all([get("/v1/version"), get(`/v1/integration-runtimes/${enc(ir.name)}/update`)]);
  const out = h("div");
  const rollout = update.rollout;
  const policy = update.policy;
  const window = policy.window ? ` (window ${policy.window.start}–${policy.window.end}${policy.window.time_zone ? ` ${policy.window.time_zone}` : ""})` : "";
  const updateNow = update.available_version && !(rollout && rollout.state === "in_progress")
    ? h("button", { class: "primary", id: "update-now", onclick: async () => {
      if (!confirm(`Update ${ir.name}'s nodes to ${update.available_version}, one node at a time?`)) return;
      try { await api("POST", `/v1/integration-runtimes/${enc(ir.name)}/update`, {}); go(location.hash, "Update started."); }
      catch (e) { out.replaceChildren(errorBox(e)); }
    } }, `Update to ${update.available_version}`) : null;
  page(`Integration runtime ${ir.name}`, ...head, out,
    version.warning ? h("p", { class: "notice" }, version.warning) : null,
    h("dl", { class: "facts", id: "version" },
      h("dt", {}, "Service version"), h("dd", {}, version.version),
      h("dt", {}, "Released"), h("dd", {}, version.release_date),
      h("dt", {}, "Status"), h("dd", {}, badge(version.status), ` expires on ${version.expires_on} (${version.days_left} days)`),
      h("dt", {}, "Nodes' version"), h("dd", { id: "current-version" }, update.current_version || "no node"),
      h("dt", {}, "Available release"), h("dd", { id: "available-version" }, update.available_version || "none newer"),
      h("dt", {}, "Auto-update"), h("dd", {}, `${policy.mode}${window}`)),
    h("div", { class: "actions" }, updateNow),
    h("h2", {}, "Nodes"),
    table(["Node", "Version", "Status"], update.nodes.map((n) => [n.node, n.version || "—", badge(n.status)]), "No node registered."),
    h("h2", {}, "Latest rollout"),
    rollout ? h("div", { id: "rollout" },
      h("p", {}, badge(rollout.state), ` ${rollout.from_version || "?"} → ${rollout.version}, started ${when(rollout.started_at)}`,
        rollout.current_node ? `; updating ${rollout.current_node}` : ""),
      rollout.error ? h("div", { class: "error" }, rollout.error) : null,
      table(["Node", "Step", "Started", "Finished", "Error"], rollout.steps.map((st) => [st.node, badge(st.state), when(st.started_at), when(st.finished_at), st.error || ""])))
      : h("p", { class: "muted" }, "No rollout yet."));
  if (rollout && rollout.state === "in_progress") poll(async () => { if (location.hash.endsWith("/version")) await render(); }, 3000);
}

// ---------- forms from JSON Schema ----------

// A form for a JSON Schema (objects, strings, numbers, booleans, enums,
// string lists, `kind`-tagged variants, write-only secrets). `value` is the
// current value; `read()` returns the value the form holds.
function schemaForm(schema, value, path = "", required = false) {
  schema = schema || {};
  const types = [].concat(schema.type || []);
  const label = (input, required) => h("label", {}, h("span", {}, `${path || "value"}${required ? " *" : ""}`,
    schema.description ? ` — ${schema.description}` : ""), input);
  const variants = schema.oneOf || (schema.anyOf && !schema.writeOnly ? schema.anyOf : null);
  if (schema.writeOnly) {
    const existing = value !== undefined && value !== null;
    const input = h("input", { type: "password", name: path, autocomplete: "new-password",
      placeholder: existing ? "unchanged (write-only)" : "secret value" });
    const isRef = value && typeof value === "object";
    if (isRef) input.value = JSON.stringify(value);
    return { el: label(input, required), read: () => {
      const v = input.value;
      if (!v) return existing ? (isRef ? value : "<redacted>") : undefined;
      if (v.startsWith("{")) { try { return JSON.parse(v); } catch { return v; } }
      return v;
    } };
  }
  if (variants && variants.every((v) => v.properties?.kind?.const || v.properties?.kind?.enum)) {
    const kindOf = (v) => v.properties.kind.const ?? v.properties.kind.enum[0];
    const select = h("select", { name: `${path}.kind` }, variants.map((v) => h("option", { value: kindOf(v) }, kindOf(v))));
    if (value?.kind) select.value = value.kind;
    const holder = h("div");
    let current = null;
    const show = () => {
      const variant = variants.find((v) => kindOf(v) === select.value);
      const props = { ...variant, properties: { ...variant.properties } };
      delete props.properties.kind;
      current = schemaForm(props, value?.kind === select.value ? value : {}, path);
      holder.replaceChildren(current.el);
    };
    select.addEventListener("change", show);
    show();
    return { el: h("fieldset", {}, h("legend", {}, path), label(select, true), holder),
      read: () => ({ kind: select.value, ...current.read() }) };
  }
  if (types.includes("object") || schema.properties) {
    const needed = new Set(schema.required || []);
    // A connection's `kind` is the source's type unless a third-party connector says otherwise.
    const shown = Object.entries(schema.properties || {}).filter(([k]) => !(path === "connection" && k === "kind"));
    const fields = shown.map(([k, sub]) => {
      const f = schemaForm(sub, value?.[k], path ? `${path}.${k}` : k, needed.has(k));
      f.key = k;
      return f;
    });
    const el = h(path ? "fieldset" : "div", {}, path ? h("legend", {}, path) : null, fields.map((f) => f.el));
    return { el, read: () => {
      const out = {};
      for (const f of fields) { const v = f.read(); if (v !== undefined) out[f.key] = v; }
      return out;
    } };
  }
  const enumValues = schema.enum || (variants && variants.every((v) => "const" in v) ? variants.map((v) => v.const) : null);
  if (enumValues) {
    const select = h("select", { name: path }, h("option", { value: "" }, "(default)"),
      enumValues.filter((v) => v !== null).map((v) => h("option", { value: v }, v)));
    if (value !== undefined && value !== null) select.value = value;
    return { el: label(select, required), read: () => select.value || undefined };
  }
  if (types.includes("boolean")) {
    const box = h("input", { type: "checkbox", name: path });
    box.checked = value ?? schema.default ?? false;
    return { el: label(box, required), read: () => box.checked };
  }
  if (types.includes("integer") || types.includes("number")) {
    const input = h("input", { type: "number", name: path, value: value ?? "" });
    return { el: label(input, required), read: () => (input.value === "" ? undefined : Number(input.value)) };
  }
  if (types.includes("array") && [].concat(schema.items?.type || []).includes("string")) {
    const area = h("textarea", { name: path, placeholder: "one per line" }, (value || []).join("\n"));
    return { el: label(area, required), read: () => {
      const items = area.value.split("\n").map((s) => s.trim()).filter(Boolean);
      return items.length ? items : undefined;
    } };
  }
  if (types.includes("string")) {
    const input = h("input", { name: path, value: value ?? "" });
    return { el: label(input, required), read: () => input.value.trim() || undefined };
  }
  const area = h("textarea", { name: path, placeholder: "JSON" }, value === undefined ? "" : JSON.stringify(value, null, 2));
  return { el: label(area, required), read: () => (area.value.trim() ? JSON.parse(area.value) : undefined) };
}

// ---------- sources ----------

async function sourceList() {
  const sources = await get("/v1/sources");
  page("Sources", h("div", { class: "actions" }, h("a", { href: "#/sources/new" }, h("button", { class: "primary" }, "New source"))),
    table(["Name", "Type", "Updated"], sources.map((s) => [h("a", { href: `#/sources/${enc(s.name)}` }, s.name), s.type, when(s.updated_at)]),
      "No source yet."));
}

async function sourceEdit(name) {
  const connectors = await get("/v1/connectors");
  const existing = name ? await get(`/v1/sources/${enc(name)}`) : null;
  const out = h("div");
  const nameInput = h("input", { id: "source-name", value: existing?.name || "", disabled: !!existing });
  const typeSelect = h("select", { id: "source-type", disabled: !!existing }, connectors.map((c) => h("option", { value: c.type }, c.type)));
  if (existing) typeSelect.value = existing.type;
  const holder = h("div");
  let forms = null;
  const show = () => {
    const c = connectors.find((x) => x.type === typeSelect.value);
    const same = existing && existing.type === c.type;
    forms = {
      connection: schemaForm(c.connection_schema || {}, same ? existing.connection : {}, "connection"),
      config: schemaForm(c.config_schema || {}, same ? existing.config : {}, "config"),
    };
    holder.replaceChildren(h("p", { class: "muted" }, c.description), forms.connection.el, forms.config.el);
  };
  typeSelect.addEventListener("change", show);
  show();
  const save = async (e) => {
    e.preventDefault();
    try {
      const connection = forms.connection.read();
      delete connection.kind;
      const body = { name: nameInput.value.trim(), type: typeSelect.value, connection, config: forms.config.read() };
      if (existing) await api("PUT", `/v1/sources/${enc(existing.name)}`, body);
      else await api("POST", "/v1/sources", body);
      go(`#/sources/${enc(body.name)}`, "Saved.");
    } catch (err) { out.replaceChildren(errorBox(err)); }
  };
  const form = h("form", { id: "source-form", onsubmit: save },
    h("label", {}, h("span", {}, "Name"), nameInput), h("label", {}, h("span", {}, "Type"), typeSelect), holder,
    h("div", { class: "actions" }, h("button", { class: "primary", type: "submit" }, existing ? "Save" : "Create")));
  const extra = existing ? [
    h("div", { class: "actions" },
      h("button", { id: "test-connection", onclick: async () => {
        out.replaceChildren(h("p", { class: "muted" }, "Testing…"));
        try {
          const r = await api("POST", `/v1/sources/${enc(existing.name)}/test-connection`);
          out.replaceChildren(r.ok ? h("p", { class: "ok", id: "test-result" }, "Connection succeeded.") : h("div", { class: "error", id: "test-result" }, `${r.error.kind}: ${r.error.message}`));
        } catch (err) { out.replaceChildren(errorBox(err)); }
      } }, "Test connection"),
      h("a", { href: `#/scans/new?source=${enc(existing.name)}` }, h("button", {}, "New scan of this source")),
      h("button", { class: "danger", onclick: async () => {
        if (!confirm(`Delete source ${existing.name}?`)) return;
        try { await api("DELETE", `/v1/sources/${enc(existing.name)}`); go("#/sources", `Source ${existing.name} deleted.`); } catch (err) { out.replaceChildren(errorBox(err)); }
      } }, "Delete")),
    h("h2", {}, "Browse"), browser(existing.name, null)] : [];
  page(existing ? `Source ${existing.name}` : "New source", out, form, ...extra);
}

// A lazily expanded tree of what a source holds (`/browse`); `pick` gets a
// path when the user chooses one (the scan form's scope).
function browser(source, pick) {
  const root = h("ul");
  const out = h("div");
  const load = async (path, into) => {
    try {
      const entries = await get(`/v1/sources/${enc(source)}/browse?path=${enc(path)}`);
      into.replaceChildren(...entries.map((e) => {
        const children = h("ul");
        let open = false;
        const toggle = h("span", { class: "toggle" }, e.container ? "▸" : "");
        const label = h("span", { class: "node", dataset: { path: e.path } }, toggle, e.name,
          e.size !== null && e.size !== undefined ? h("span", { class: "muted" }, `  ${bytes(e.size)}`) : null);
        label.addEventListener("click", async () => {
          if (pick) pick(e.path);
          if (!e.container) return;
          open = !open;
          toggle.textContent = open ? "▾" : "▸";
          if (open) await load(e.path, children); else children.replaceChildren();
        });
        return h("li", {}, label, children);
      }));
      if (!entries.length && into === root) into.replaceChildren(h("li", { class: "muted" }, "empty"));
    } catch (err) { out.replaceChildren(errorBox(err)); }
  };
  load("", root);
  return h("div", {}, out, h("div", { class: "tree", id: "browse" }, root));
}

// ---------- scans ----------

async function scanList() {
  const scans = await get("/v1/scans");
  page("Scans", h("div", { class: "actions" }, h("a", { href: "#/scans/new" }, h("button", { class: "primary" }, "New scan"))),
    table(["Name", "Source", "Trigger", "Integration runtime", "Next run"], scans.map((s) => [
      h("a", { href: `#/scans/${enc(s.name)}` }, s.name), s.source, s.trigger.kind, s.integration_runtime || "the service", when(s.next_run_at)]),
    "No scan yet."));
}

function triggerEditor(trigger) {
  trigger = trigger || { kind: "manual" };
  const field = (name, attrs = {}) => h("input", { name, ...attrs });
  const kind = h("select", { name: "trigger.kind", id: "trigger-kind" }, ["manual", "once", "recurring", "cron"].map((k) => h("option", { value: k }, k)));
  kind.value = trigger.kind;
  const at = field("trigger.at", { placeholder: "2026-12-01T02:00 (empty: now)", value: trigger.at || "" });
  const interval = h("select", { name: "trigger.interval" }, ["hours", "days", "weeks", "months"].map((k) => h("option", { value: k }, k)));
  interval.value = trigger.interval || "days";
  const every = field("trigger.every", { type: "number", min: 1, value: trigger.every || 1 });
  const hours = field("trigger.hours", { placeholder: "e.g. 2, 14", value: (trigger.hours || []).join(", ") });
  const minutes = field("trigger.minutes", { placeholder: "e.g. 0, 30", value: (trigger.minutes || []).join(", ") });
  const expression = field("trigger.expression", { id: "trigger-expression", placeholder: "*/15 * * * *", value: trigger.expression || "" });
  const zone = field("trigger.time_zone", { id: "trigger-zone", placeholder: "UTC", value: trigger.time_zone || "" });
  const start = field("trigger.start", { placeholder: "first possible run (optional)", value: trigger.start || "" });
  const end = field("trigger.end", { placeholder: "no run after (optional)", value: trigger.end || "" });
  const numbers = (s) => s.split(/[ ,]+/).filter(Boolean).map(Number);
  const groups = {
    once: [h("label", {}, h("span", {}, "At"), at)],
    recurring: [h("label", {}, h("span", {}, "Every"), h("div", { class: "actions" }, every, interval)),
      h("label", {}, h("span", {}, "At hours"), hours), h("label", {}, h("span", {}, "At minutes"), minutes),
      h("label", {}, h("span", {}, "Start"), start), h("label", {}, h("span", {}, "End"), end)],
    cron: [h("label", {}, h("span", {}, "Cron expression (minute hour day month weekday)"), expression),
      h("label", {}, h("span", {}, "Start"), start), h("label", {}, h("span", {}, "End"), end)],
  };
  const read = () => {
    const t = { kind: kind.value };
    const zoneValue = zone.value.trim() || undefined;
    if (t.kind === "once") { if (at.value.trim()) t.at = at.value.trim(); t.time_zone = zoneValue; }
    if (t.kind === "recurring") {
      Object.assign(t, { interval: interval.value, every: Number(every.value) || 1, time_zone: zoneValue });
      if (hours.value.trim() && interval.value !== "hours") t.hours = numbers(hours.value);
      if (minutes.value.trim()) t.minutes = numbers(minutes.value);
    }
    if (t.kind === "cron") Object.assign(t, { expression: expression.value.trim(), time_zone: zoneValue });
    if (t.kind === "recurring" || t.kind === "cron") { if (start.value.trim()) t.start = start.value.trim(); if (end.value.trim()) t.end = end.value.trim(); }
    return t;
  };
  const body = h("div");
  const preview = h("div", { id: "trigger-preview" });
  const update = async () => {
    body.replaceChildren(...(groups[kind.value] || []), kind.value === "manual" ? null : h("label", {}, h("span", {}, "Time zone (IANA)"), zone));
    if (kind.value === "manual") { preview.replaceChildren(h("p", { class: "muted" }, "Runs only when triggered.")); return; }
    try {
      const r = await api("POST", "/v1/triggers/preview", read());
      preview.replaceChildren(h("p", { class: "muted" }, "Next runs:"),
        r.next.length ? h("ol", { class: "mono" }, r.next.map((t) => h("li", {}, t))) : h("p", {}, "none (all in the past)"));
    } catch (e) { preview.replaceChildren(errorBox(e)); }
  };
  let timer = null;
  const later = () => { clearTimeout(timer); timer = setTimeout(update, 250); };
  kind.addEventListener("change", update);
  for (const el of [at, interval, every, hours, minutes, expression, zone, start, end]) { el.addEventListener("input", later); el.addEventListener("change", later); }
  update();
  return { el: h("fieldset", {}, h("legend", {}, "Trigger"), h("label", {}, h("span", {}, "Kind"), kind), body, preview), read };
}

async function scanEdit(name, query) {
  const [sources, irs] = await Promise.all([get("/v1/sources"), get("/v1/integration-runtimes")]);
  const existing = name ? await get(`/v1/scans/${enc(name)}`) : null;
  const out = h("div");
  const nameInput = h("input", { id: "scan-name", value: existing?.name || "", disabled: !!existing });
  const source = h("select", { id: "scan-source", disabled: !!existing }, sources.map((s) => h("option", { value: s.name }, s.name)));
  source.value = existing?.source || query.get("source") || sources[0]?.name || "";
  const ir = h("select", { id: "scan-ir" }, h("option", { value: "" }, "the service itself"), irs.map((i) => h("option", { value: i.name }, i.name)));
  ir.value = existing?.integration_runtime || "";
  const scope = h("textarea", { id: "scan-scope", placeholder: "paths, one per line (empty: everything)" }, (existing?.scope || []).join("\n"));
  const ruleSet = h("textarea", { id: "scan-rule-set", placeholder: "{}" }, existing ? JSON.stringify(existing.rule_set, null, 2) : "{}");
  const incremental = h("input", { type: "checkbox", id: "scan-incremental" });
  incremental.checked = existing?.incremental ?? false;
  const trigger = triggerEditor(existing?.trigger);
  const picker = h("div");
  const showPicker = () => picker.replaceChildren(source.value ? browser(source.value, (path) => {
    const lines = scope.value.split("\n").map((s) => s.trim()).filter(Boolean);
    if (!lines.includes(path)) scope.value = [...lines, path].join("\n");
  }) : h("p", { class: "muted" }, "Create a source first."));
  source.addEventListener("change", showPicker);
  showPicker();
  const save = async (e) => {
    e.preventDefault();
    try {
      const body = {
        name: nameInput.value.trim(), source: source.value, trigger: trigger.read(), incremental: incremental.checked,
        scope: scope.value.split("\n").map((s) => s.trim()).filter(Boolean),
        rule_set: ruleSet.value.trim() ? JSON.parse(ruleSet.value) : {},
        integration_runtime: ir.value || undefined,
      };
      if (existing) await api("PUT", `/v1/scans/${enc(existing.name)}`, body);
      else await api("POST", "/v1/scans", body);
      go(`#/scans/${enc(body.name)}`, "Saved.");
    } catch (err) { out.replaceChildren(errorBox(err)); }
  };
  const runNow = existing ? h("button", { id: "run-now", type: "button", onclick: async () => {
    try { const run = await api("POST", `/v1/scans/${enc(existing.name)}/runs`); location.hash = `#/runs/${enc(run.id)}`; }
    catch (err) { out.replaceChildren(errorBox(err)); }
  } }, "Run now") : null;
  page(existing ? `Scan ${existing.name}` : "New scan", out,
    h("form", { id: "scan-form", onsubmit: save },
      h("label", {}, h("span", {}, "Name"), nameInput), h("label", {}, h("span", {}, "Source"), source),
      h("label", {}, h("span", {}, "Integration runtime"), ir),
      h("div", { class: "row" }, h("label", { class: "grow" }, h("span", {}, "Scope (click in the tree to add)"), scope), h("div", {}, picker)),
      h("label", {}, h("span", {}, "Scan rule set (JSON)"), ruleSet),
      h("label", {}, incremental, " Incremental (only what changed since the last run)"),
      trigger.el,
      h("div", { class: "actions" }, h("button", { class: "primary", type: "submit" }, existing ? "Save" : "Create"), runNow)),
    existing ? h("p", {}, h("a", { href: `#/runs?scan=${enc(existing.name)}` }, "Runs of this scan")) : null);
}

// ---------- runs ----------

const finished = (state) => ["succeeded", "completed_with_exceptions", "failed", "canceled"].includes(state);
function progress(run) {
  const u = run.units;
  if (!u || !u.total) return "—";
  const pct = Math.round((100 * u.done) / u.total);
  return h("div", {}, h("div", { class: "bar", title: `${u.done} of ${u.total} units` }, h("div", { style: `width:${pct}%` })), h("span", { class: "muted" }, `${u.done}/${u.total} units`));
}

async function runList(query) {
  const scan = query.get("scan");
  const runs = await get(`/v1/runs?limit=50${scan ? `&scan=${enc(scan)}` : ""}`);
  const list = Array.isArray(runs) ? runs : runs.runs || [];
  page(scan ? `Runs of ${scan}` : "Runs",
    table(["Run", "Scan", "State", "Queued", "Duration", "Assets", "Item errors"], list.map((r) => [
      h("a", { href: `#/runs/${enc(r.id)}` }, r.id), r.scan, badge(r.state), when(r.queued_at),
      r.duration_ms === null || r.duration_ms === undefined ? "—" : `${(r.duration_ms / 1000).toFixed(1)} s`,
      `${r.counts.assets}`, `${r.counts.item_errors}`]), "No run yet."));
  if (list.some((r) => !finished(r.state))) poll(async () => { if (location.hash.startsWith("#/runs") && !location.hash.includes("/", 7)) await render(); }, 3000);
}

async function runPage(id) {
  const run = await get(`/v1/runs/${enc(id)}`);
  const out = h("div");
  let report = null;
  if (finished(run.state)) { try { report = await get(`/v1/runs/${enc(id)}/report`); } catch { report = null; } }
  const u = run.units;
  const facts = h("dl", { class: "facts", id: "run-facts" },
    h("dt", {}, "State"), h("dd", { id: "run-state" }, badge(run.state)),
    h("dt", {}, "Scan"), h("dd", {}, h("a", { href: `#/scans/${enc(run.scan)}` }, run.scan), ` of ${run.source}`),
    h("dt", {}, "Reason"), h("dd", {}, `${run.reason} (attempt ${run.attempt})`),
    h("dt", {}, "Queued / started / finished"), h("dd", {}, `${when(run.queued_at)} / ${when(run.started_at)} / ${when(run.finished_at)}`),
    h("dt", {}, "Progress"), h("dd", { id: "run-progress" }, progress(run)),
    h("dt", {}, "Counts"), h("dd", { id: "run-counts" }, Object.entries(run.counts).map(([k, v]) => `${k.replaceAll("_", " ")} ${v}`).join(" · ")),
    run.location ? [h("dt", {}, "Output"), h("dd", { class: "mono" }, run.location)] : null,
    run.error ? [h("dt", {}, "Error"), h("dd", {}, h("div", { class: "error" }, run.error))] : null);
  const units = u && u.total ? [h("h2", {}, "Units"),
    h("p", { id: "units-summary" }, `${u.total} units: ${u.done} done, ${u.in_progress} in progress, ${u.queued} queued, ${u.failed} failed, ${u.retried} retried` +
      (u.planned_files ? ` · ${u.files_done} of ${u.planned_files} files` : "")),
    table(["Node", "Units done", "In progress"], Object.keys({ ...(u.by_node || {}), ...(u.in_progress_by_node || {}) }).sort().map((n) => [n, `${u.by_node?.[n] ?? 0}`, `${u.in_progress_by_node?.[n] ?? 0}`]), "No unit finished yet.")] : [];
  const errors = report?.itemErrors || [];
  const actions = h("div", { class: "actions" },
    finished(run.state) ? h("a", { href: `#/runs/${enc(id)}/results` }, h("button", { class: "primary", id: "results" }, "Results")) : null,
    !finished(run.state) ? h("button", { class: "danger", id: "cancel", onclick: async () => {
      if (!confirm("Cancel this run? Nothing of it is written to the ingestion target.")) return;
      try { await api("POST", `/v1/runs/${enc(id)}/cancel`); go(location.hash, "Cancel requested."); } catch (e) { out.replaceChildren(errorBox(e)); }
    } }, "Cancel") : null);
  page(`Run ${run.id}`, out, actions, facts, ...units,
    h("h2", {}, `Item errors (${run.counts.item_errors})`),
    table(["Item", "Error"], errors.slice(0, 200).map((e) => [h("span", { class: "mono" }, e.item), e.message || e.error || JSON.stringify(e)]),
      finished(run.state) ? "None." : "Shown when the run has finished."));
  if (!finished(run.state)) poll(async () => { if (location.hash === `#/runs/${enc(id)}`) await render(); }, 2000);
}

async function runResults(id) {
  const assets = [];
  let cursor = null;
  do {
    const pageOf = await get(`/v1/runs/${enc(id)}/assets?limit=1000${cursor !== null ? `&cursor=${cursor}` : ""}`);
    assets.push(...pageOf.assets);
    cursor = pageOf.next ?? null;
  } while (cursor !== null && assets.length < 20000);
  const byName = new Map(assets.map((a) => [a.qualified_name, a]));
  const children = new Map();
  const roots = [];
  for (const a of assets) {
    const parent = a.detail?.parent;
    if (parent && byName.has(parent)) { if (!children.has(parent)) children.set(parent, []); children.get(parent).push(a); }
    else roots.push(a);
  }
  const detail = h("div", { class: "grow", id: "asset-detail" }, h("p", { class: "muted" }, "Choose an asset."));
  let selected = null;
  const node = (a) => {
    const kids = children.get(a.qualified_name) || [];
    const sub = h("ul");
    let open = false;
    const toggle = h("span", { class: "toggle" }, kids.length ? "▸" : "");
    const label = h("span", { class: "node", dataset: { qn: a.qualified_name } }, toggle, a.name || a.qualified_name, h("span", { class: "muted" }, `  ${a.type}`));
    label.addEventListener("click", () => {
      if (selected) selected.classList.remove("selected");
      selected = label; label.classList.add("selected");
      showAsset(a, detail);
      if (!kids.length) return;
      open = !open;
      toggle.textContent = open ? "▾" : "▸";
      sub.replaceChildren(...(open ? kids.map(node) : []));
    });
    return h("li", {}, label, sub);
  };
  page(`Results of run ${id}`, h("p", { class: "muted" }, `${assets.length} assets`),
    h("div", { class: "row" }, h("div", { class: "tree", id: "asset-tree" }, h("ul", {}, roots.map(node))), detail));
}

function showAsset(a, into) {
  const d = a.detail || {};
  const columns = d.columns || [];
  const set = d.resourceSet;
  const parts = [h("h2", {}, a.name || a.qualified_name), h("p", { class: "mono" }, a.qualified_name), h("p", {}, badge(a.type))];
  if (columns.length) {
    parts.push(h("h2", {}, `Schema (${columns.length} columns)`), table(["Column", "Type", "Nullable"], columns.map((c) => [
      h("span", { class: "mono", style: `padding-left:${(c.depth - 1) * 1.2}rem` }, c.path.split(".").pop()),
      c.type || c.physicalType || "", c.nullable === false ? "no" : "yes"])));
  }
  if (set) {
    parts.push(h("h2", {}, "Resource set"), h("dl", { class: "facts" },
      h("dt", {}, "Pattern"), h("dd", { class: "mono" }, set.pattern || ""),
      h("dt", {}, "Partitions"), h("dd", {}, `${set.partitions} (${set.failedPartitions} failed)`),
      h("dt", {}, "Schemas"), h("dd", {}, `${set.schemaCount}`)));
    const variants = set.variants || [];
    if (variants.length) {
      parts.push(h("h2", {}, "Schema variants"), table(["", "Files", "Example", "Added", "Removed", "Retyped"], variants.map((v) => [
        v.base ? "the set's schema" : "", `${v.files}`, h("span", { class: "mono" }, v.example),
        (v.added || []).join(", "), (v.removed || []).join(", "), (v.retyped || []).map((r) => `${r.column}: ${r.from} → ${r.to}`).join(", ")]), ""));
    }
  }
  into.replaceChildren(...parts);
}

// ---------- router ----------

const routes = [
  [/^#\/irs\/?$/, () => irList()],
  [/^#\/irs\/([^/]+)(?:\/(settings|nodes|version))?$/, (m) => irPage(decodeURIComponent(m[1]), m[2] || "settings")],
  [/^#\/sources\/?$/, () => sourceList()],
  [/^#\/sources\/new$/, () => sourceEdit(null)],
  [/^#\/sources\/([^/]+)$/, (m) => sourceEdit(decodeURIComponent(m[1]))],
  [/^#\/scans\/?$/, () => scanList()],
  [/^#\/scans\/new$/, (m, q) => scanEdit(null, q)],
  [/^#\/scans\/([^/]+)$/, (m, q) => scanEdit(decodeURIComponent(m[1]), q)],
  [/^#\/runs\/?$/, (m, q) => runList(q)],
  [/^#\/runs\/([^/]+)$/, (m) => runPage(decodeURIComponent(m[1]))],
  [/^#\/runs\/([^/]+)\/results$/, (m) => runResults(decodeURIComponent(m[1]))],
];

async function render() {
  clearInterval(refresh);
  refresh = null;
  if (!token()) return login();
  const [path, search] = (location.hash || "#/irs").split("?");
  const query = new URLSearchParams(search || "");
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", path.startsWith(`#/${a.dataset.section}`));
  document.getElementById("whoami").replaceChildren(h("button", { onclick: () => { sessionStorage.removeItem("surveyor-token"); render(); } }, "Sign out"));
  const route = routes.find(([re]) => re.test(path));
  if (!route) return page("Not found", h("p", {}, h("a", { href: "#/irs" }, "Integration runtimes")));
  try { await route[1](path.match(route[0]), query); }
  catch (e) { if (e.status !== 401) page("Error", errorBox(e)); }
}

window.addEventListener("hashchange", render);
render();
