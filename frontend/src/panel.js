// The settings panel: runs in the Wix editor (in an iframe, as the real editor loads it)
// from the app's backend at /panel. Shows the app instance and the settings, and saves
// the greeting with optimistic concurrency (If-Match / ETag). The markup is in panel.html.
import { createClient } from '@wix/sdk';
import { editor, widget } from '@wix/editor';
import { ApiError, apiUrl, describeError, fetchWithAuth, readJson } from './api.js';

// The backend serves this script at <backend>/static/panel.js; its base is one level up.
// (document.currentScript is only set while the script first runs, so read it now.)
const BACKEND_URL = backendBase(document.currentScript);
const SETTINGS_URL = apiUrl(BACKEND_URL, 'api/settings');
const INSTANCE_URL = apiUrl(BACKEND_URL, 'api/get-instance');
const WIDGET_PROP_TIMEOUT_MS = 3000;

const client = createClient({ host: editor.host(), auth: editor.auth(), modules: { widget } });

/** What the backend last told us: {settings, version, etag}. */
let current = null;

function backendBase(script) {
  if (script && script.src) {
    return new URL('../', script.src).toString();
  }
  return `${window.location.origin}/`;
}

// ---- backend calls --------------------------------------------------------------------

async function loadInstance() {
  return readJson(await fetchWithAuth(client, INSTANCE_URL), INSTANCE_URL);
}

async function loadSettings() {
  const response = await fetchWithAuth(client, SETTINGS_URL);
  const body = await readJson(response, SETTINGS_URL);
  return settingsDocument(body, response);
}

/** PUT the settings. Resolves to the new document; rejects with ApiError (412 on conflict). */
async function saveSettings(settings, etag) {
  const response = await fetchWithAuth(client, SETTINGS_URL, {
    method: 'PUT',
    // A plain object: fetchWithAuth spreads headers and drops a Headers instance.
    headers: { 'Content-Type': 'application/json', 'If-Match': etag },
    body: JSON.stringify(settings),
  });
  const body = await readJson(response, SETTINGS_URL);
  if (body && typeof body.settings === 'object' && body.settings !== null) {
    return settingsDocument(body, response);
  }
  return loadSettings(); // the backend answered something else: ask for the stored truth
}

function settingsDocument(body, response) {
  const version = Number.isInteger(body.version) ? body.version : null;
  const etag = response.headers.get('ETag') || (version === null ? '*' : `"v${version}"`);
  return { settings: { ...(body.settings || {}) }, version, etag };
}

// ---- view -----------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function setState(state) {
  $('panel').dataset.state = state;
  $('save').disabled = state === 'saving' || state === 'loading';
}

function say(text, kind = 'info') {
  const message = $('message');
  message.textContent = text;
  message.dataset.kind = kind;
  message.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  message.hidden = !text;
}

function showSettings(doc, { fillForm }) {
  current = doc;
  const greeting = typeof doc.settings.greeting === 'string' ? doc.settings.greeting : '';
  $('current-greeting').textContent = greeting || '(not set)';
  $('settings-version').textContent = doc.version === null ? '?' : String(doc.version);
  $('panel').dataset.version = doc.version === null ? '' : String(doc.version);
  if (fillForm) {
    $('greeting').value = greeting;
  }
}

const OUTSIDE_THE_EDITOR =
  'Waiting for the Wix editor… This is the app\'s settings panel: it gets its access token ' +
  'from the Wix editor, so open it there (or on the emulator\'s /editor page).';

/** Opened on its own: no editor around it (a top-level page without an injected context). */
function outsideTheEditor() {
  return window.top === window.self && typeof globalThis.__APPLICATION_CONTEXT_KEY === 'undefined';
}

// ---- flow -----------------------------------------------------------------------------

async function start() {
  setState('loading');
  say(outsideTheEditor() ? OUTSIDE_THE_EDITOR : 'Loading the settings…');
  try {
    const [instance, doc] = await Promise.all([loadInstance(), loadSettings()]);
    $('instance-id').textContent = String(instance.instanceId ?? '');
    $('panel').dataset.instanceId = String(instance.instanceId ?? '');
    showSettings(doc, { fillForm: true });
    $('details').hidden = false;
    setState('ready');
    say('');
  } catch (error) {
    setState('error');
    say(`${describeError(error)} Close and reopen the panel to try again.`, 'error');
  }
}

async function onSubmit(event) {
  event.preventDefault();
  if (!current) return;
  const greeting = $('greeting').value.trim();
  if (!greeting) {
    say('Enter a greeting first.', 'error');
    return;
  }
  setState('saving');
  say('Saving…');
  try {
    const doc = await saveSettings({ ...current.settings, greeting }, current.etag);
    showSettings(doc, { fillForm: true });
    setState('saved');
    say(`Saved. The widget now says "${greeting}".`);
    void tellWidget(doc);
  } catch (error) {
    await onSaveError(error);
  }
}

async function onSaveError(error) {
  if (error instanceof ApiError && error.status === 412) {
    try {
      showSettings(await loadSettings(), { fillForm: false }); // keep the user's draft
      setState('conflict');
      say(
        'Someone else changed these settings while you were editing, so your change was not ' +
          'saved. The current settings are shown above; review your greeting and save again.',
        'error',
      );
    } catch (reloadError) {
      setState('error');
      say(describeError(reloadError), 'error');
    }
    return;
  }
  setState('error');
  if (error instanceof ApiError && error.status === 403 && !error.serverMessage) {
    say(
      `${describeError(error)} Only the site's owner or a collaborator, working in the Wix ` +
        'editor, can change these settings.',
      'error',
    );
  } else {
    say(describeError(error), 'error');
  }
}

// Let the widget on the canvas know (it reloads when its settings-version attribute
// changes). Best effort: an editor without a selected custom element has nothing to update.
async function tellWidget(doc) {
  if (doc.version === null) return;
  const timeout = new Promise((_, reject) =>
    setTimeout(() => reject(new Error('timed out')), WIDGET_PROP_TIMEOUT_MS),
  );
  try {
    await Promise.race([client.widget.setProp('settings-version', String(doc.version)), timeout]);
  } catch (error) {
    console.info('wixapp panel: could not update the widget on the canvas:', error?.message ?? error);
  }
}

function main() {
  $('settings-form').addEventListener('submit', onSubmit);
  void start();
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', main, { once: true });
} else {
  main();
}
