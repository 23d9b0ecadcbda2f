// The service's public API as the page calls it: JSON requests with the user's key,
// errors as ApiError, and Server-Sent Events read from a fetch response.

export const KEY_STORAGE = "chat.apiKey";
// The key the user gave (sessionStorage: gone when the tab closes).
export const auth = { key: sessionStorage.getItem(KEY_STORAGE) };

export class ApiError extends Error {}

export function headers(json) {
  const result = {};
  if (auth.key) result.Authorization = `Bearer ${auth.key}`;
  if (json) result["Content-Type"] = "application/json";
  return result;
}

export async function failure(response) {
  if (response.status === 401) document.getElementById("key-form").hidden = false;
  let detail = response.statusText;
  try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
  return new ApiError(`${response.status}: ${detail}`);
}

export async function api(method, path, body) {
  const response = await fetch(path, {
    method, headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

// ---- Server-Sent Events over fetch (EventSource can neither POST nor send a key)

export async function readEvents(response, onEvent) {
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
