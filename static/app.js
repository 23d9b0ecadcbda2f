// The chat page: the service's public API only (the same routes as any client).
// Replies are Markdown rendered by markdown-it with raw HTML off, then DOMPurify;
// everything else the page shows from the server is set as text, never as HTML.
import { ApiError, KEY_STORAGE, api, auth, failure, headers, readEvents } from "./api.js";
import { $, el } from "./dom.js";
import { loadProfiles, loadSessions, showSession, toggle, view } from "./sidebar.js";

// The open session is the sidebar's (view.sessionId); the turn being streamed, here.
const state = { controller: null };
let markdown = null;


function showError(error) {
  $("error").hidden = !error;
  $("error").textContent = error ? String(error.message || error) : "";
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

// A reply's tool calls and a tool message's results, as text: the service runs no
// tool, the client that sent `tools` does (README: tool calls).
function toolPart(kind, name, text) {
  return el("details", { class: `tool ${kind}` },
    el("summary", {}, kind === "call" ? `Tool call: ${name}` : `Tool result: ${name}`),
    el("pre", {}, text));
}

function toolParts(message) {
  const calls = (message.tool_calls || []).map((call) =>
    toolPart("call", call.function.name, call.function.arguments));
  const results = (message.tool_results || []).map((result) =>
    toolPart("result", result.tool_call_id, result.content));
  return [...calls, ...results];
}

function messageItem(message) {
  const status = message.status && message.status !== "complete" && message.status !== "streaming"
    ? [el("span", { class: "status" }, message.status)] : [];
  const meta = el("div", { class: "meta" }, el("span", { class: "role" }, message.role),
    ...versionArrows(message), ...status, ...actions(message));
  const item = el("li", { class: `message ${message.role}`, "data-id": message.message_id || "" },
    meta, el("div", { class: "body" }), ...toolParts(message));
  setBody(item, message.role, message.content || "");
  return item;
}

async function loadHistory() {
  const list = $("messages");
  if (!view.sessionId) { list.replaceChildren(); return; }
  const page = await api("GET", `/api/sessions/${view.sessionId}/messages?limit=500`);
  list.replaceChildren(...page.items.map(messageItem));
  list.scrollTop = list.scrollHeight;
}

async function allNodes() {
  const nodes = [];
  let after = "";
  for (;;) {
    const page = await api("GET", `/api/sessions/${view.sessionId}/tree?limit=1000${after}`);
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
  if (view.sessionId) return;
  const profile = $("profile").value;
  const session = await api("POST", "/api/sessions", profile ? { profile_id: profile } : {});
  openSession(session.session_id, false);
}

async function send(text) {
  await ensureSession();
  $("messages").append(messageItem({ role: "user", content: text, sibling_count: 1 }));
  await runStream("POST", "/api/chat/stream", { session_id: view.sessionId, message: text });
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
      { session_id: view.sessionId, message: text, edit_of: message.message_id }).catch(showError);
  };
  item.querySelector(".body").replaceChildren(area,
    el("div", { class: "meta" },
      el("button", { type: "button", class: "save", onclick: save }, "Save and send"),
      el("button", { type: "button", onclick: () => loadHistory().catch(showError) }, "Cancel")));
  area.focus();
}

async function resumeIfGenerating() {
  const status = await api("GET", `/api/sessions/${view.sessionId}/status`);
  if (!status.active) return;
  dropFrom(status.message_id); // the stream replays the reply from its first event
  await runStream("GET", `/api/messages/${status.message_id}/stream`);
}

async function stop() {
  if (view.sessionId) await api("POST", `/api/sessions/${view.sessionId}/stop`);
}

function openSession(sessionId, load = true) {
  view.sessionId = sessionId;
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
  view.sessionId = null;
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
      view.archived = archived;
      $("show-chats").setAttribute("aria-pressed", String(!archived));
      $("show-archived").setAttribute("aria-pressed", String(archived));
      loadSessions().catch(showError);
    });
  }
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    auth.key = $("api-key").value.trim();
    sessionStorage.setItem(KEY_STORAGE, auth.key);
    $("key-form").hidden = true;
    start().catch(showError);
  });
  window.addEventListener("hashchange", () => {
    const id = fromHash();
    if (id && id !== view.sessionId) openSession(id).catch(showError);
  });
}

async function start() {
  await loadSessions();
  await loadProfiles();
  const id = fromHash();
  if (id) await openSession(id);
}

document.addEventListener("DOMContentLoaded", () => {
  if (auth.key) $("api-key").value = auth.key;
  wire();
  start().catch(showError);
});
