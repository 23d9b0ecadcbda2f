// The sidebar: sessions (pinned first; chats or archived; search with the words
// marked), the open session's title, pin and archive, and the profile picker.
import { api } from "./api.js";
import { $, el } from "./dom.js";

// What the sidebar shows: the open session (null for a new chat), which list.
export const view = { sessionId: null, archived: false };

export function highlighted(snippet, ranges) {
  const parts = [];
  let at = 0;
  for (const [start, end] of ranges) {
    parts.push(snippet.slice(at, start), el("mark", {}, snippet.slice(start, end)));
    at = end;
  }
  parts.push(snippet.slice(at));
  return el("span", { class: "snippet" }, ...parts);
}

export function sessionItem(session, extra = []) {
  const classes = [session.pinned ? "pinned" : "", session.session_id === view.sessionId ? "current" : ""];
  return el("li", { class: classes.join(" ").trim(), "data-id": session.session_id },
    el("a", { href: `#/s/${session.session_id}` }, session.title || "New chat", ...extra));
}

export async function loadSessions() {
  const q = $("search").value.trim();
  const params = new URLSearchParams({ limit: "100", archived: String(view.archived) });
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
  const current = page.items.find((s) => s.session_id === view.sessionId);
  if (current) showSession(current);
}

export function showSession(session) {
  $("title").textContent = session.title || "New chat";
  $("pin").hidden = $("archive").hidden = false;
  $("pin").textContent = session.pinned ? "Unpin" : "Pin";
  $("archive").textContent = session.archived ? "Unarchive" : "Archive";
  $("pin").dataset.on = String(session.pinned);
  $("archive").dataset.on = String(session.archived);
}

export async function toggle(field) {
  const on = $(field).dataset.on === "true";
  const session = await api("PATCH", `/api/sessions/${view.sessionId}`, { [field === "pin" ? "pinned" : "archived"]: !on });
  showSession(session);
  await loadSessions();
}

export async function loadProfiles() {
  const page = await api("GET", "/api/profiles?limit=100");
  const options = page.items.map((p) => el("option", { value: p.profile_id }, p.name));
  $("profile").replaceChildren(el("option", { value: "" }, "No profile"), ...options);
}
