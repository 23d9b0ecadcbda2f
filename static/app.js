// The chat page: the service's public API only (the same routes as any client).
// Replies are Markdown rendered by markdown-it with raw HTML off, then DOMPurify;
// everything else the page shows from the server is set as text, never as HTML.
"use strict";

const KEY_STORAGE = "chat.apiKey";
const state = { sessionId: null, archived: false, controller: null, key: sessionStorage.getItem(KEY_STORAGE) };
const $ = (id) => document.getElementById(id);
let markdown = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

class ApiError extends Error {}

function headers(json) {
  const result = {};
  if (state.key) result.Authorization = `Bearer ${state.key}`;
  if (json) result["Content-Type"] = "application/json";
  return result;
}

async function failure(response) {
  if (response.status === 401) $("key-form").hidden = false;
  let detail = response.statusText;
  try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
  return new ApiError(`${response.status}: ${detail}`);
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method, headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

function showError(error) {
  $("error").hidden = !error;
  $("error").textContent = error ? String(error.message || error) : "";
}

// ---- Server-Sent Events over fetch (EventSource can neither POST nor send a key)

async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let type = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(type, JSON.parse(data.join("\n")));
    }
  }
}

// ---- Messages

function renderMarkdown(text) {
  if (!markdown) markdown = window.markdownit({ html: false, linkify: false, breaks: true });
  return window.DOMPurify.sanitize(markdown.render(text));
}

function setBody(item, role, text) {
  const body = item.querySelector(".body");
  if (role === "assistant") body.innerHTML = renderMarkdown(text);
  else body.textContent = text;
}

function versionArrows(message) {
  if (message.sibling_count < 2) return [];
  const step = (dir) => () => switchVersion(message, dir).catch(showError);
  return [
    el("button", { type: "button", class: "prev", "aria-label": "Previous version", onclick: step(-1) }, "<"),
    el("span", { class: "place" }, `${message.sibling_index + 1}/${message.sibling_count}`),
    el("button", { type: "button", class: "next", "aria-label": "Next version", onclick: step(1) }, ">"),
  ];
}

function actions(message) {
  if (message.role === "user") {
    return [el("button", { type: "button", class: "edit", onclick: () => startEdit(message) }, "Edit")];
  }
  if (message.role === "assistant") {
    const again = () => regenerate(message.message_id).catch(showError);
    return [el("button", { type: "button", class: "regenerate", onclick: again }, "Regenerate")];
  }
  return [];
}

function messageItem(message) {
  const status = message.status && message.status !== "complete" && message.status !== "streaming"
    ? [el("span", { class: "status" }, message.status)] : [];
  const meta = el("div", { class: "meta" }, el("span", { class: "role" }, message.role),
    ...versionArrows(message), ...status, ...actions(message));
  const item = el("li", { class: `message ${message.role}`, "data-id": message.message_id || "" },
    meta, el("div", { class: "body" }));
  setBody(item, message.role, message.content || "");
  return item;
}

async function loadHistory() {
  const list = $("messages");
  if (!state.sessionId) { list.replaceChildren(); return; }
  const page = await api("GET", `/api/sessions/${state.sessionId}/messages?limit=500`);
  list.replaceChildren(...page.items.map(messageItem));
  list.scrollTop = list.scrollHeight;
}

async function allNodes() {
  const nodes = [];
  let after = "";
  for (;;) {
    const page = await api("GET", `/api/sessions/${state.sessionId}/tree?limit=1000${after}`);
    nodes.push(...page.items);
    if (!page.next_cursor) return nodes;
    after = `&after=${encodeURIComponent(page.next_cursor)}`;
  }
}

async function switchVersion(message, dir) {
  const siblings = (await allNodes()).filter((n) => n.parent_id === message.parent_id && n.role === message.role);
  const target = siblings[message.sibling_index + dir];
  if (!target) return;
  await api("POST", `/api/messages/${target.message_id}/select`);
  await loadHistory();
}

// ---- Turns

function setBusy(busy) {
  $("send").disabled = busy;
  $("stop").hidden = !busy;
  for (const button of document.querySelectorAll(".regenerate, .edit")) button.disabled = busy;
}

function dropFrom(messageId) {
  const items = [...$("messages").children];
  const at = items.findIndex((item) => item.dataset.id === messageId);
  if (at >= 0) for (const item of items.slice(at)) item.remove();
}

async function runStream(method, path, body) {
  state.controller = new AbortController();
  setBusy(true);
  showError(null);
  let reply = null;
  let text = "";
  try {
    const response = await fetch(path, {
      method, headers: headers(body !== undefined), signal: state.controller.signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw await failure(response);
    await readEvents(response, (type, data) => {
      if (type === "start" || (type === "delta" && !reply)) {
        reply = messageItem({ role: "assistant", message_id: data.message_id, content: "", sibling_count: 1 });
        $("messages").append(reply);
      }
      if (type === "delta") {
        text += data.content;
        setBody(reply, "assistant", text);
        $("messages").scrollTop = $("messages").scrollHeight;
      }
      if (type === "error") showError(new ApiError(data.detail || data.code));
    });
  } catch (error) {
    if (error.name !== "AbortError") showError(error);
  } finally {
    state.controller = null;
    setBusy(false);
  }
  await loadHistory();
  await loadSessions();
  setTimeout(() => loadSessions().catch(() => {}), 2000); // the title the LLM writes
}

async function ensureSession() {
  if (state.sessionId) return;
  const profile = $("profile").value;
  const session = await api("POST", "/api/sessions", profile ? { profile_id: profile } : {});
  openSession(session.session_id, false);
}

async function send(text) {
  await ensureSession();
  $("messages").append(messageItem({ role: "user", content: text, sibling_count: 1 }));
  await runStream("POST", "/api/chat/stream", { session_id: state.sessionId, message: text });
}

async function regenerate(messageId) {
  dropFrom(messageId);
  await runStream("POST", `/api/messages/${messageId}/regenerate/stream`, {});
}

function startEdit(message) {
  const item = [...$("messages").children].find((li) => li.dataset.id === message.message_id);
  const area = el("textarea", { rows: "3", "aria-label": "Edit message" });
  area.value = message.content;
  const save = () => {
    const text = area.value.trim();
    if (!text) return;
    dropFrom(message.message_id);
    $("messages").append(messageItem({ role: "user", content: text, sibling_count: 1 }));
    runStream("POST", "/api/chat/stream",
      { session_id: state.sessionId, message: text, edit_of: message.message_id }).catch(showError);
  };
  item.querySelector(".body").replaceChildren(area,
    el("div", { class: "meta" },
      el("button", { type: "button", class: "save", onclick: save }, "Save and send"),
      el("button", { type: "button", onclick: () => loadHistory().catch(showError) }, "Cancel")));
  area.focus();
}

async function resumeIfGenerating() {
  const status = await api("GET", `/api/sessions/${state.sessionId}/status`);
  if (!status.active) return;
  dropFrom(status.message_id); // the stream replays the reply from its first event
  await runStream("GET", `/api/messages/${status.message_id}/stream`);
}

async function stop() {
  if (state.sessionId) await api("POST", `/api/sessions/${state.sessionId}/stop`);
}

// ---- Sessions

function highlighted(snippet, ranges) {
  const parts = [];
  let at = 0;
  for (const [start, end] of ranges) {
    parts.push(snippet.slice(at, start), el("mark", {}, snippet.slice(start, end)));
    at = end;
  }
  parts.push(snippet.slice(at));
  return el("span", { class: "snippet" }, ...parts);
}

function sessionItem(session, extra = []) {
  const classes = [session.pinned ? "pinned" : "", session.session_id === state.sessionId ? "current" : ""];
  return el("li", { class: classes.join(" ").trim(), "data-id": session.session_id },
    el("a", { href: `#/s/${session.session_id}` }, session.title || "New chat", ...extra));
}

async function loadSessions() {
  const q = $("search").value.trim();
  const params = new URLSearchParams({ limit: "100", archived: String(state.archived) });
  if (q) params.set("q", q);
  const page = await api("GET", `/api/sessions?${params}`);
  const ordered = [...page.items.filter((s) => s.pinned), ...page.items.filter((s) => !s.pinned)];
  const items = ordered.map((session) => sessionItem(session));
  if (q) {
    const hits = await api("GET", `/api/search?${new URLSearchParams({ q, limit: "10" })}`);
    for (const hit of hits.items) {
      items.push(sessionItem({ session_id: hit.session_id, title: hit.session_title },
        [highlighted(hit.snippet, hit.highlights)]));
    }
  }
  $("sessions").replaceChildren(...items);
  const current = page.items.find((s) => s.session_id === state.sessionId);
  if (current) showSession(current);
}

function showSession(session) {
  $("title").textContent = session.title || "New chat";
  $("pin").hidden = $("archive").hidden = false;
  $("pin").textContent = session.pinned ? "Unpin" : "Pin";
  $("archive").textContent = session.archived ? "Unarchive" : "Archive";
  $("pin").dataset.on = String(session.pinned);
  $("archive").dataset.on = String(session.archived);
}

async function toggle(field) {
  const on = $(field).dataset.on === "true";
  const session = await api("PATCH", `/api/sessions/${state.sessionId}`, { [field === "pin" ? "pinned" : "archived"]: !on });
  showSession(session);
  await loadSessions();
}

async function loadProfiles() {
  const page = await api("GET", "/api/profiles?limit=100");
  const options = page.items.map((p) => el("option", { value: p.profile_id }, p.name));
  $("profile").replaceChildren(el("option", { value: "" }, "No profile"), ...options);
}

function openSession(sessionId, load = true) {
  state.sessionId = sessionId;
  if (location.hash !== `#/s/${sessionId}`) history.replaceState(null, "", `#/s/${sessionId}`);
  $("app").classList.remove("sidebar-open");
  if (!load) return Promise.resolve();
  return (async () => {
    const session = await api("GET", `/api/sessions/${sessionId}`);
    showSession(session);
    await loadHistory();
    await resumeIfGenerating();
  })();
}

function fromHash() {
  const match = location.hash.match(/^#\/s\/([0-9a-f-]{36})$/);
  return match ? match[1] : null;
}

function newChat() {
  state.sessionId = null;
  history.replaceState(null, "", location.pathname);
  $("title").textContent = "New chat";
  $("pin").hidden = $("archive").hidden = true;
  $("messages").replaceChildren();
  $("app").classList.remove("sidebar-open");
  $("input").focus();
}

let searchTimer = null;

function wire() {
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("input").value.trim();
    if (!text || state.controller) return;
    $("input").value = "";
    send(text).catch(showError);
  });
  $("input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("composer").requestSubmit(); }
  });
  $("stop").addEventListener("click", () => stop().catch(showError));
  $("new-chat").addEventListener("click", newChat);
  $("pin").addEventListener("click", () => toggle("pin").catch(showError));
  $("archive").addEventListener("click", () => toggle("archive").catch(showError));
  $("toggle-sidebar").addEventListener("click", () => $("app").classList.toggle("sidebar-open"));
  $("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => loadSessions().catch(showError), 250);
  });
  for (const [id, archived] of [["show-chats", false], ["show-archived", true]]) {
    $(id).addEventListener("click", () => {
      state.archived = archived;
      $("show-chats").setAttribute("aria-pressed", String(!archived));
      $("show-archived").setAttribute("aria-pressed", String(archived));
      loadSessions().catch(showError);
    });
  }
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.key = $("api-key").value.trim();
    sessionStorage.setItem(KEY_STORAGE, state.key);
    $("key-form").hidden = true;
    start().catch(showError);
  });
  window.addEventListener("hashchange", () => {
    const id = fromHash();
    if (id && id !== state.sessionId) openSession(id).catch(showError);
  });
}

async function start() {
  await loadSessions();
  await loadProfiles();
  const id = fromHash();
  if (id) await openSession(id);
}

document.addEventListener("DOMContentLoaded", () => {
  if (state.key) $("api-key").value = state.key;
  wire();
  start().catch(showError);
});
