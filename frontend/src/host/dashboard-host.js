// The emulator's "Wix dashboard": hosts the app's dashboard page in an iframe and answers the
// @wix/dashboard channel as the real dashboard does (wix-platform.md §11). The page is the
// app's unchanged production code; all pretending lives here.
//
// Query: ?appId=…&instanceId=…&page=<URL of the app's dashboard page>
//        [&lifetime=seconds of each token] [&subject=USER|VISITOR|MEMBER] [&locale=en]
//        [&legacy=0] (no signed `instance` parameter)
// The page must be served at https://manage.wix.com (see `wixapp emulator --dashboard-port`):
// @wix/dashboard refuses any other origin. Tokens are minted by the emulator's control API
// on this page's origin.
import { serve } from '@wix/communication-channel';
import { httpUrl } from './config.js';

const HANDSHAKE = 'wix-sdk-bo-hello-handshake';
const WIX_DASHBOARD_ORIGIN = /^https:\/\/([a-z0-9-]+\.)?manage\.wix\.com$/; // @wix/dashboard's own check

const params = new URLSearchParams(window.location.search);
const config = {
  appId: params.get('appId') || '',
  instanceId: params.get('instanceId') || '',
  page: params.get('page') || '',
  subject: (params.get('subject') || 'USER').toUpperCase(),
  lifetime: Number(params.get('lifetime') || 3600),
  locale: params.get('locale') || 'en',
  legacy: params.get('legacy') !== '0',
};

/** What the page asked of the dashboard, for people and tests: window.wixHost. */
const host = {
  kind: 'dashboard',
  config,
  connected: false,
  tokensMinted: 0,
  calls: [],
  toasts: [],
  navigations: [],
  heights: [],
  titles: [],
  modals: [],
  errors: [],
};
window.wixHost = host;

function log(text, kind = 'info') {
  const line = document.createElement('li');
  line.textContent = `${new Date().toISOString().slice(11, 23)} ${text}`;
  line.dataset.kind = kind;
  document.getElementById('host-log')?.append(line);
  if (kind === 'error') {
    host.errors.push(text);
    console.error(`dashboard host: ${text}`);
  }
}

function setStatus(state) {
  document.body.dataset.hostState = state;
  const status = document.getElementById('host-status');
  if (status) status.textContent = state;
}

/** A copy of a call's arguments that survives JSON (functions become "[function]"). */
function plain(value) {
  return JSON.parse(JSON.stringify(value ?? null, (_key, item) => (typeof item === 'function' ? '[function]' : item)));
}

function record(method, args) {
  host.calls.push({ method, args: plain(args) });
}

async function control(path, body) {
  const response = await fetch(`/_emulator${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    throw new Error(`POST /_emulator${path} answered HTTP ${response.status}: ${await response.text()}`);
  }
  return response.json();
}

// The dashboard hands the page the same token until it nears expiry, then a fresh one: the
// page's SDK asks before every request and caches nothing itself.
let current = null; // {token, renewAt}
let minting = null;

async function accessToken() {
  if (current && Date.now() < current.renewAt) return current.token;
  minting ??= control('/tokens', {
    instanceId: config.instanceId,
    subjectType: config.subject,
    lifetime: config.lifetime,
  })
    .then(({ token }) => {
      const lifetimeMs = config.lifetime * 1000;
      current = { token, renewAt: Date.now() + lifetimeMs - Math.min(60_000, lifetimeMs / 2) };
      host.tokensMinted += 1;
      log(`minted a ${config.subject} token (${host.tokensMinted} so far)`);
      return token;
    })
    .finally(() => {
      minting = null;
    });
  return minting;
}

function showToast(toast) {
  host.toasts.push(plain(toast));
  const item = document.createElement('li');
  item.textContent = `${toast?.type || 'standard'}: ${toast?.message ?? ''}`;
  document.getElementById('toasts')?.append(item);
  return { remove() {} };
}

/** The dashboard's side of the channel: what @wix/dashboard's builders call. */
const api = {
  getAccessToken: () => accessToken(),
  showToast,
  navigate(destination, options) {
    host.navigations.push(plain({ destination, options }));
  },
  navigateBack() {
    host.navigations.push({ back: true });
  },
  updateHeight(height) {
    host.heights.push(height);
    const frame = document.getElementById('page-frame');
    if (frame && height > 0) frame.style.height = `${Math.ceil(height)}px`;
  },
  onBeforeUnload() {
    return { remove() {} };
  },
  setPageTitle(title) {
    host.titles.push(title);
  },
  openModal(modalId, modalParams) {
    host.modals.push(plain({ modalId, params: modalParams }));
    return { modalClosed: Promise.resolve(undefined) };
  },
  closeModal() {},
  getPageUrl(destination) {
    return `${window.location.origin}/dashboard/${encodeURIComponent(destination?.pageId ?? '')}`;
  },
  observeState(observer) {
    const language = config.locale.split('-')[0];
    const pageLocation = { pageId: 'app-dashboard', pathname: '/' };
    observer({}, { locale: config.locale, language, pageLocation, embedded: true });
    return { disconnect() {} };
  },
  requestFeedback() {},
  onLayerStateChange() {
    return { remove() {} };
  },
};

/** Each method recorded before it runs, so tests can assert what the page asked. */
const recordedApi = Object.fromEntries(
  Object.entries(api).map(([method, run]) => [
    method,
    (...args) => {
      record(method, args);
      return run(...args);
    },
  ]),
);

function acceptHandshakes(frame) {
  window.addEventListener('message', (event) => {
    if (event.source !== frame.contentWindow || event.data?.code !== HANDSHAKE) return;
    const [port] = event.ports;
    if (!port) {
      log('a handshake came without a port', 'error');
      return;
    }
    serve({ api: recordedApi, port });
    host.connected = true;
    log(`page connected (channel version ${event.data.version})`);
    setStatus('connected');
  });
}

/** The query Wix adds to a dashboard page's URL: origin, the signed instance, the locale. */
async function pageUrl() {
  const url = httpUrl(config.page);
  if (!url) throw new Error('page must be an http(s) URL');
  url.searchParams.set('origin', window.location.origin);
  url.searchParams.set('locale', config.locale);
  // Encoded JSON inside the query, as @wix/dashboard decodes it (decodeURIComponent, then JSON).
  url.searchParams.set('siteInfo', encodeURIComponent(JSON.stringify({ wixEditorAvailable: true, wixEditorActive: false })));
  if (config.legacy) {
    const { instance } = await control('/legacy-instances', { instanceId: config.instanceId });
    url.searchParams.set('instance', instance);
  }
  return url.toString();
}

async function main() {
  document.getElementById('host-instance').textContent = config.instanceId || '(none)';
  const problems = ['appId', 'instanceId', 'page'].filter((key) => !config[key]).map((key) => `${key} is missing`);
  if (!WIX_DASHBOARD_ORIGIN.test(window.location.origin)) {
    problems.push(`this page must be opened at https://manage.wix.com (not ${window.location.origin}): see wixapp emulator --dashboard-port`);
  }
  if (problems.length) {
    log(`cannot host the page: ${problems.join('; ')}`, 'error');
    setStatus('error');
    return;
  }
  const frame = document.createElement('iframe');
  frame.id = 'page-frame';
  frame.title = 'App dashboard page';
  acceptHandshakes(frame); // listen before the page can say hello
  try {
    frame.src = await pageUrl();
  } catch (error) {
    log(`could not build the page's URL: ${error?.message ?? error}`, 'error');
    setStatus('error');
    return;
  }
  setStatus('loading');
  document.getElementById('page-slot').append(frame);
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', main, { once: true });
} else {
  main();
}
