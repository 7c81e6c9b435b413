// Calls to this app's backend with the Wix access token (fetchWithAuth), and errors that
// say what to do. Shared by the widget and the panel.

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.name = 'ApiError';
    this.status = status; // 0 when no answer arrived (backend down, CORS refused, no token)
  }
}

/** `path` (no leading slash) under the backend's base URL. */
export function apiUrl(backendUrl, path) {
  const base = String(backendUrl).endsWith('/') ? String(backendUrl) : `${backendUrl}/`;
  return new URL(path, base).toString();
}

/** One JSON call; resolves to the body (null for 204), rejects with an ApiError. */
export async function callJson(client, url, { method = 'GET', body } = {}) {
  const init = { method };
  if (body !== undefined) {
    // A plain object: fetchWithAuth spreads headers and drops a Headers instance.
    init.headers = { 'Content-Type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await client.fetchWithAuth(url, init);
  } catch (error) {
    throw new ApiError(`Could not reach ${new URL(url).origin}: ${error?.message ?? error}`, 0);
  }
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    // wixapp's error bodies: {"error": code, "detail": what to do}
    const detail = typeof answer.detail === 'string' ? ` ${answer.detail}` : '';
    throw new ApiError(`${method} ${new URL(url).pathname} answered ${response.status}.${detail}`, response.status);
  }
  return answer;
}
