// The page at /: pick a served model, send a text, show what it returns. Rendering follows the shape
// of the answer, never the task's name: spans with start/end highlight the text, a {label: number}
// mapping is drawn as bars, lists of records are tables, a list of lists is a result table.
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let models = {};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k === "style") node.style.cssText = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("key").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

async function loadModels() {
  const r = await fetch("/v1/models", { headers: headers() });
  const body = await r.json();
  if (!r.ok) { showError(r.status, body.error); return; }
  const select = $("model");
  select.textContent = "";
  for (const m of body.models) {
    models[m.name] = m;
    select.append(el("option", { value: m.name }, `${m.name} (${m.task})`));
  }
  if (params.get("model") && models[params.get("model")]) select.value = params.get("model");
  describe();
  $("status").textContent = `${body.models.length} model(s)`;
}

function describe() {
  const m = models[$("model").value];
  if (!m) return;
  const facts = [`task ${m.task}`];
  if (m.labels) facts.push(`labels: ${m.labels.slice(0, 12).join(", ")}${m.labels.length > 12 ? ", …" : ""}`);
  for (const [k, v] of Object.entries(m.schema || {})) {
    if (Array.isArray(v) && k !== "labels") facts.push(`${k}: ${v.slice(0, 12).join(", ")}${v.length > 12 ? ", …" : ""}`);
  }
  $("about").textContent = facts.join(" · ");
  const opts = m.options.map((o) => `${o.name}=${JSON.stringify(o.default)} (${o.accepts})`);
  if (m.extras.length) opts.push(...m.extras.map((e) => `${e} (given as is)`));
  $("option-help").textContent = opts.length ? "options: " + opts.join("; ") : "no per-call options";
  $("stream-box").hidden = !m.stream;
}

function parseInput(text) {
  const t = text.trim();
  if (t.startsWith("{")) { try { return JSON.parse(t); } catch (e) { /* a text that starts with { */ } }
  return text;
}

function showError(status, message) {
  const box = $("error");
  box.hidden = false;
  box.textContent = `${status}: ${message}`;
}

async function run() {
  const m = models[$("model").value];
  if (!m) return;
  $("error").hidden = true;
  $("result").textContent = "";
  $("raw-box").hidden = true;
  let options;
  try { options = JSON.parse($("options").value || "{}"); } catch (e) { showError("options", "not JSON: " + e.message); return; }
  const input = parseInput($("text").value);
  const body = JSON.stringify({ inputs: [input], options });
  $("run").disabled = true;
  try {
    if (m.stream && $("stream").checked) await runStream(m, body);
    else await runPredict(m, body, input);
  } catch (e) {
    showError("network", e.message);
  } finally {
    $("run").disabled = false;
    document.body.dataset.done = "1";  // for headless checks: the answer is on the page
  }
}

async function runPredict(m, body, input) {
  const r = await fetch(`/v1/models/${encodeURIComponent(m.name)}/predict`, { method: "POST", headers: headers(), body });
  const answer = await r.json();
  if (!r.ok) { showError(r.status, answer.error); return; }
  const output = answer.outputs[0];
  $("result").append(render(output, typeof input === "string" ? input : textOf(input)));
  $("raw").textContent = JSON.stringify(output, null, 2);
  $("raw-box").hidden = false;
}

// Server-Sent Events over fetch (EventSource cannot POST): pieces are appended as they arrive.
async function runStream(m, body) {
  const r = await fetch(`/v1/models/${encodeURIComponent(m.name)}/stream`, { method: "POST", headers: headers(), body });
  if (!r.ok) { const answer = await r.json(); showError(r.status, answer.error); return; }
  const out = el("div", { class: "generated running", id: "generated" });
  $("result").append(out);
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event.type === "error") showError("stream", event.data.error);
      else if (event.type === "message") out.textContent += event.data.text;
    }
  }
  out.classList.remove("running");
}

function parseEvent(block) {
  let type = "message", data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) type = line.slice(6).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trim();
  }
  return { type, data: data ? JSON.parse(data) : {} };
}

function textOf(input) {
  if (input && typeof input === "object") return typeof input.text === "string" ? input.text : null;
  return null;
}

// ---- rendering by shape ---------------------------------------------------------------------------
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isSpan = (v) => isObj(v) && Number.isInteger(v.start) && Number.isInteger(v.end);
const isScores = (v) => isObj(v) && Object.keys(v).length > 0 && Object.values(v).every((x) => typeof x === "number");

function render(value, text) {
  if (Array.isArray(value)) return renderList(value, text);
  if (isObj(value)) return renderRecord(value, text);
  return el("div", { class: "text" }, value === null ? "—" : value);
}

function renderList(list, text) {
  if (list.length === 0) return el("div", { class: "muted" }, "(none)");
  if (list.every((x) => typeof x === "number")) return vector(list);
  if (list.every((x) => typeof x === "string")) return el("ol", {}, ...list.map((s) => el("li", { class: "text" }, s)));
  if (list.every(Array.isArray)) return table(null, list);
  if (list.every(isObj)) {
    const wrap = el("div");
    if (text && list.every(isSpan)) wrap.append(highlight(text, list));
    wrap.append(recordTable(list));
    return wrap;
  }
  return el("ol", {}, ...list.map((x) => el("li", {}, render(x, text))));
}

function renderRecord(record, text) {
  const kv = el("div", { class: "kv" });
  for (const [k, v] of Object.entries(record)) {
    let shown;
    if (isScores(v)) shown = bars(v);
    else if (typeof v === "string" && /\n|^(SELECT|WITH)\b/i.test(v)) shown = el("pre", {}, v);
    else shown = render(v, text);
    kv.append(el("div", { class: "k" }, k), shown);
  }
  return kv;
}

function bars(scores) {
  const entries = Object.entries(scores).sort((a, b) => b[1] - a[1]);
  const top = Math.max(...entries.map((e) => Math.abs(e[1])), 1e-12);
  const box = el("div", { class: "bars" });
  entries.forEach(([label, p], i) => {
    box.append(el("span", {}, label),
      el("div", {}, el("div", { class: i === 0 ? "bar best" : "bar", style: `width:${(100 * Math.abs(p)) / top}%` })),
      el("span", {}, p.toFixed(4)));
  });
  return box;
}

function vector(list) {
  const head = list.slice(0, 6).map((x) => x.toFixed(3)).join(", ");
  return el("span", { class: "muted" }, `${list.length} numbers: ${head}${list.length > 6 ? ", …" : ""}`);
}

function hue(name) {
  let h = 0;
  for (const c of String(name)) h = (h * 31 + c.codePointAt(0)) % 360;
  return h;
}

// The text with each span marked (spans that overlap an earlier one are listed in the table only).
function highlight(text, spans) {
  const box = el("div", { class: "text", id: "highlighted" });
  const sorted = [...spans].sort((a, b) => a.start - b.start || b.end - a.end);
  let at = 0;
  for (const s of sorted) {
    if (s.start < at || s.end > text.length) continue;
    box.append(text.slice(at, s.start));
    const tag = s.type ?? s.label ?? "";
    box.append(el("mark", { title: String(tag), style: `background:hsl(${hue(tag)},85%,82%)` },
      text.slice(s.start, s.end), el("span", { class: "tag" }, tag)));
    at = s.end;
  }
  box.append(text.slice(at));
  return box;
}

function recordTable(list) {
  const columns = [...new Set(list.flatMap((r) => Object.keys(r)))];
  return table(columns, list.map((r) => columns.map((c) => r[c])));
}

function table(columns, rows) {
  const t = el("table");
  if (columns) t.append(el("tr", {}, ...columns.map((c) => el("th", {}, c))));
  for (const row of rows) t.append(el("tr", {}, ...row.map((v) => el("td", {}, cell(v)))));
  return t;
}

function cell(v) {
  if (v === undefined || v === null) return "";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(4);
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.length > 8 && v.every((x) => typeof x === "number")) return vector(v);
  if (Array.isArray(v) && v.every(isObj)) return recordTable(v);
  return JSON.stringify(v);
}

// ---- start --------------------------------------------------------------------------------------
$("model").addEventListener("change", describe);
$("run").addEventListener("click", run);
$("key").addEventListener("change", loadModels);
$("text").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) run(); });
if (params.get("text")) $("text").value = params.get("text");
if (params.get("options")) $("options").value = params.get("options");
if (params.get("stream") === "0") $("stream").checked = false;
loadModels().then(() => { if (params.get("autorun") === "1") run(); });
