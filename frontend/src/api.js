// Talking to the app's own backend: URLs, JSON bodies, and errors people can act on.
// Shared by the widget and the settings panel.

/** A failed backend call. `status` is the HTTP status, or 0 when no response arrived. */
export class ApiError extends Error {
  constructor(message, { status, serverMessage = '', url = '', cause } = {}) {
    super(message, cause ? { cause } : undefined);
    this.name = 'ApiError';
    this.status = status ?? 0;
    this.serverMessage = serverMessage;
    this.url = url;
  }

  static network(url, cause) {
    return new ApiError(`Could not reach ${originOf(url)}.`, { status: 0, url, cause });
  }
}

/**
 * `client.fetchWithAuth(url, init)`, with its two ways of failing told apart: the host
 * gave no token (the SDK's auth step threw) or the request never got an answer (fetch
 * throws a TypeError: backend down, or CORS refused).
 */
export async function fetchWithAuth(client, url, init) {
  try {
    return await client.fetchWithAuth(url, init);
  } catch (error) {
    if (error instanceof TypeError) {
      throw ApiError.network(url, error);
    }
    const reason = error && error.message ? error.message : String(error);
    throw new ApiError(`Could not get a Wix access token for this page: ${sentence(reason)}`, {
      status: 0,
      cause: error,
    });
  }
}

/** `path` (no leading slash) under the backend base URL, which may carry a path prefix. */
export function apiUrl(backendUrl, path) {
  const base = String(backendUrl).endsWith('/') ? String(backendUrl) : `${backendUrl}/`;
  return new URL(path, base).toString();
}

/** The JSON body of a 2xx response; anything else becomes an ApiError. */
export async function readJson(response, url) {
  if (!response.ok) {
    const serverMessage = await readServerMessage(response);
    throw new ApiError(`${url} answered HTTP ${response.status}.`, {
      status: response.status,
      serverMessage,
      url,
    });
  }
  try {
    return await response.json();
  } catch (error) {
    throw new ApiError(`${url} did not answer JSON.`, { status: response.status, url, cause: error });
  }
}

/** One sentence for the user: what went wrong and what to do about it. */
export function describeError(error) {
  if (!(error instanceof ApiError)) {
    return `Something went wrong: ${error && error.message ? error.message : String(error)}`;
  }
  const detail = error.serverMessage ? ` The backend said: ${sentence(error.serverMessage)}` : '';
  switch (true) {
    case error.status === 0 && !error.url:
      return error.message;
    case error.status === 0:
      return `Could not reach the app's backend at ${originOf(error.url)}. It may be down, or it ` +
        `does not allow requests from this site (CORS). Try again later.`;
    case error.status === 401:
      return `The app's backend did not accept this page's Wix access token (401 Unauthorized).` +
        `${detail} Reload the page; if it keeps happening, the app may no longer be installed ` +
        `on this site.`;
    case error.status === 403:
      return `Not allowed (403 Forbidden).${detail}`;
    case error.status === 404:
      return `The app's backend has no ${pathOf(error.url)} (404 Not Found). Check the backend URL.`;
    case error.status === 412:
      return `These settings were changed elsewhere (412 Precondition Failed).${detail}`;
    case error.status === 429:
      return `Too many requests (429). Wait a minute and try again.${detail}`;
    case error.status >= 500:
      return `The app's backend had a problem (HTTP ${error.status}). Try again later.${detail}`;
    default:
      return `The app's backend refused the request (HTTP ${error.status}).${detail}`;
  }
}

// Error bodies come in several shapes: the Wix envelope {message, details},
// FastAPI's {detail}, OAuth's {error, error_description}, or plain text.
async function readServerMessage(response) {
  let text = '';
  try {
    text = await response.text();
  } catch {
    return '';
  }
  try {
    const body = JSON.parse(text);
    const candidates = [
      body.message,
      typeof body.detail === 'string' ? body.detail : body.detail?.message,
      body.error_description,
      body.details?.applicationError?.description,
      typeof body.error === 'string' ? body.error : body.error?.message,
    ];
    const found = candidates.find((value) => typeof value === 'string' && value.trim());
    return found ? found.trim().slice(0, 300) : '';
  } catch {
    return text.trim().slice(0, 300);
  }
}

function sentence(text) {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

function originOf(url) {
  try {
    return new URL(url).origin;
  } catch {
    return String(url);
  }
}

function pathOf(url) {
  try {
    return new URL(url).pathname;
  } catch {
    return String(url);
  }
}
