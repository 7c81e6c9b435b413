// The query parameters of the emulator's host pages (/site and /editor), read and checked
// the same way by both. Everything here is untrusted page input: only http(s) URLs are
// used to load code, a tag must be a valid custom element name, and nothing is ever
// written into the page as HTML (callers use textContent).

/** A custom element name: lowercase, starts with a letter, has a hyphen (HTML standard). */
const TAG_NAME = /^[a-z][a-z0-9._]*-[a-z0-9._-]*$/;

/** `value` as an absolute http(s) URL, or null. Relative values resolve against `base`. */
export function httpUrl(value, base) {
  let url;
  try {
    url = base ? new URL(value, `${base}/`) : new URL(value);
  } catch {
    return null;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
}

/**
 * The page's configuration from its query string.
 * `widget` gives the default tag and script path ({tag, script}); `panelPath` the default
 * panel path. Returns {config, problems}: problems name each bad or missing parameter.
 */
export function readHostConfig(search, { widget, panelPath, subject }) {
  const params = new URLSearchParams(search);
  const problems = [];
  const rawBackend = params.get('backend') || '';
  const backendUrl = rawBackend ? httpUrl(rawBackend) : null;
  if (!rawBackend) problems.push('backend is missing');
  else if (!backendUrl) problems.push('backend must be an http(s) URL');
  const backend = backendUrl ? backendUrl.toString().replace(/\/+$/, '') : '';

  const tag = params.get('tag') || widget.tag;
  if (!TAG_NAME.test(tag)) problems.push('tag must be a custom element name (lowercase, with a hyphen)');

  const resolve = (name, fallback) => {
    const raw = params.get(name);
    if (!backend && !raw) return '';
    const url = httpUrl(raw || fallback, backend);
    if (!url) problems.push(`${name} must be an http(s) URL or a path on the backend`);
    return url ? url.toString() : '';
  };

  const config = {
    instanceId: params.get('instanceId') || '',
    backend,
    appId: params.get('appId') || '',
    siteId: params.get('siteId') || '',
    subject: (params.get('subject') || subject).toUpperCase(),
    token: params.get('token'),
    lifetime: Number(params.get('lifetime') || 3600),
    tag,
    script: resolve('script', widget.script),
    panel: resolve('panel', panelPath),
  };
  return { config, problems, params };
}
