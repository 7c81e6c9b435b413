// The app's dashboard page: runs in the site's Wix dashboard (an iframe), served by the
// app's backend at /dashboard. Written as Wix documents a self-hosted dashboard page, with
// @wix/dashboard and @wix/sdk only: the site owner's token (a Wix user) goes to the backend
// with fetchWithAuth, which answers for that owner's app instance. The markup is in
// dashboard.html.
import { createClient } from '@wix/sdk';
import { dashboard } from '@wix/dashboard';

const client = createClient({ host: dashboard.host(), auth: dashboard.auth(), modules: { dashboard } });

const api = (path) => new URL(path, window.location.href).toString();
const $ = (id) => document.getElementById(id);

/** The stored settings and their ETag, for the next save's If-Match. */
let current = null;

async function getJson(response) {
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.detail || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

async function loadSettings() {
  const response = await client.fetchWithAuth(api('/api/settings'));
  const body = await getJson(response);
  current = { settings: body.settings || {}, etag: response.headers.get('ETag') || '*' };
  $('greeting').value = typeof current.settings.greeting === 'string' ? current.settings.greeting : '';
  $('version').textContent = String(body.version ?? '');
}

async function loadCaller() {
  const body = await getJson(await client.fetchWithAuth(api('/api/get-instance?include=instance')));
  $('instance-id').textContent = body.instanceId ?? '';
  $('subject').textContent = body.subjectType ?? '';
  $('site-name').textContent = body.instance?.site?.siteDisplayName ?? '';
  $('page').dataset.instanceId = body.instanceId ?? '';
}

async function save(event) {
  event.preventDefault();
  const greeting = $('greeting').value.trim();
  $('page').dataset.state = 'saving';
  try {
    const response = await client.fetchWithAuth(api('/api/settings'), {
      method: 'PUT',
      // A plain object: fetchWithAuth spreads headers and drops a Headers instance.
      headers: { 'Content-Type': 'application/json', 'If-Match': current.etag },
      body: JSON.stringify({ ...current.settings, greeting }),
    });
    await getJson(response);
    await loadSettings();
    client.dashboard.showToast({ message: 'Settings saved', type: 'success' });
    $('page').dataset.state = 'saved';
  } catch (error) {
    client.dashboard.showToast({ message: `Not saved: ${error.message}`, type: 'error' });
    $('page').dataset.state = 'error';
  }
}

async function start() {
  $('settings-form').addEventListener('submit', save);
  try {
    await Promise.all([loadCaller(), loadSettings()]);
    $('page').dataset.state = 'ready';
  } catch (error) {
    $('message').textContent = `Could not load: ${error.message}`;
    $('page').dataset.state = 'error';
  }
}

start();
