// The site widget's logic, shared by the custom element (widget.js) and the React
// component (widget-react.jsx). Nothing here touches the DOM: it builds the Wix client
// and turns the two backend calls into one plain state object that either view renders.
import { createClient } from '@wix/sdk';
import { site } from '@wix/site';
import { ApiError, apiUrl, describeError, fetchWithAuth, readJson } from './api.js';

/** The greeting shown when the settings carry none (the backend's default is used first). */
export const FALLBACK_GREETING = 'Hello from wixapp!';

/**
 * The auth half of the client. Created first, in the element's constructor, because the
 * host injects its token getter through `accessTokenListener` before anything else.
 * Until it does, every `fetchWithAuth` waits (the SDK has no timeout).
 */
export function createSiteAuth() {
  return site.auth();
}

/**
 * The Wix client for one widget: the site auth strategy plus the site host for `appId`
 * (`site.host()` throws without an application ID). `client.auth` is `auth` itself.
 */
export function createSiteClient(auth, appId) {
  if (!appId) {
    throw new ApiError('The widget has no app ID: set its "app-id" attribute.', { status: 0 });
  }
  return createClient({ auth, host: site.host({ applicationId: appId }) });
}

/**
 * Ask the app's backend who we are and what to show.
 * Resolves to {state: 'ready', instanceId, greeting, settings, version};
 * rejects with an ApiError (status 0 for network or CORS failures).
 */
export async function loadWidget(client, backendUrl) {
  if (!backendUrl) {
    throw new ApiError('The widget has no backend: set its "backend-url" attribute.', {
      status: 0,
    });
  }
  // One request per page view: the settings answer names the instance too.
  const settingsDoc = await getJson(client, apiUrl(backendUrl, 'api/settings'));
  const settings = (settingsDoc && settingsDoc.settings) || {};
  return {
    state: 'ready',
    instanceId: String(settingsDoc.instanceId ?? ''),
    greeting: typeof settings.greeting === 'string' && settings.greeting
      ? settings.greeting
      : FALLBACK_GREETING,
    accentColor: /^#[0-9a-f]{6}$/i.test(settings.accentColor ?? '') ? settings.accentColor : null,
    showInstanceId: settings.showInstanceId !== false,
    settings,
    version: settingsDoc.version ?? null,
  };
}

/** The state object for a failure, in the same shape the views render. */
export function errorState(error) {
  return {
    state: 'error',
    status: error instanceof ApiError ? error.status : 0,
    message: describeError(error),
  };
}

async function getJson(client, url) {
  return readJson(await fetchWithAuth(client, url), url);
}

/** The widget's look, shared by both views (they render the same markup). */
export const WIDGET_CSS = `
:host { display: block; font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.wixapp-card { box-sizing: border-box; max-width: 32rem; padding: 1rem 1.25rem; border-radius: 12px;
  border: 1px solid #d6dce5; border-left: 4px solid var(--wixapp-accent, #116dff); background: #fff;
  color: #162d3d; }
.wixapp-greeting { margin: 0 0 .5rem; font-size: 1.25rem; font-weight: 600; }
.wixapp-meta { margin: 0; color: #3b4a5a; font-size: .85rem; }
.wixapp-meta code { font: .85rem ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
.wixapp-loading { color: #57687a; }
.wixapp-error { border-color: #e62214; background: #fff4f3; color: #8c1209; }
.wixapp-error strong { display: block; margin-bottom: .25rem; }
`;

/** The initial state, before the first answer. */
export const LOADING_STATE = Object.freeze({ state: 'loading' });

/** Still loading after this long: the host has probably not injected a token getter. */
export const WAITING_HINT_MS = 8000;

export const WAITING_STATE = Object.freeze({
  state: 'loading',
  hint: 'Still waiting for the Wix site to provide an access token. This widget only works on ' +
    'a Wix site (or a page that plays one).',
});

/** Attributes mirrored on the host element so pages and tests can read the state. */
export function stateAttributes(state) {
  return {
    'data-state': state.state,
    'data-instance-id': state.state === 'ready' ? state.instanceId : null,
    'data-error-status': state.state === 'error' ? String(state.status) : null,
  };
}
