// The emulator's "Wix editor": hosts the app's settings panel in an iframe and connects
// to it with the published @wix/editor-platform-transport, as the real editor does, and
// shows the app's widget on a canvas. All pretending lives here; the panel and the
// widget are the unchanged production bundles from the app's backend.
//
// Query: ?instanceId=…&backend=…&appId=… [&siteId=…] [&lifetime=seconds] [&canvas=0]
//        [&panel=URL or /path on the backend] [&tag=my-widget] [&script=URL or /path]
//        [&subject=USER|VISITOR|MEMBER] (another identity than the editor's USER, to test
//        how the app refuses it)
// Tokens are minted by the emulator's control API on this page's origin.
import { IFrameHostEndpoint } from '@wix/editor-platform-transport';
import { readHostConfig } from './config.js';

const FRAME_API = 'PLATFORM_FRAME_API';

const { config, problems, params } = readHostConfig(window.location.search, {
  widget: { tag: 'wixapp-widget', script: '/static/widget.js' },
  panelPath: '/panel',
  subject: 'USER',
});
const COMPONENT_REF = Object.freeze({ id: `comp-${config.tag}`, type: 'DESKTOP' });

/** What the page did, for people and tests: window.wixHost. */
const host = {
  kind: 'editor',
  config,
  connected: false,
  initialized: false,
  tokensMinted: 0,
  tokenRequests: [],
  attributes: {},
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
    console.error(`editor host: ${text}`);
  }
}

function setStatus(state) {
  document.body.dataset.hostState = state;
  const status = document.getElementById('host-status');
  if (status) status.textContent = state;
}

/** A fresh token from the emulator's control API (same origin as this page). */
async function mintToken(subjectType) {
  const response = await fetch('/_emulator/tokens', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      instanceId: config.instanceId,
      subjectType,
      lifetime: config.lifetime,
    }),
  });
  if (!response.ok) {
    throw new Error(`POST /_emulator/tokens answered HTTP ${response.status}: ${await response.text()}`);
  }
  const body = await response.json();
  host.tokensMinted += 1;
  return body;
}

/** The site of the instance, from the emulator's control API (when no siteId was given). */
async function lookUpSiteId() {
  const response = await fetch(`/_emulator/installations/${encodeURIComponent(config.instanceId)}`);
  if (!response.ok) {
    log(`could not look up the site of ${config.instanceId} (HTTP ${response.status})`, 'error');
    return '';
  }
  return (await response.json()).siteId || '';
}

/** `exp` as the ISO string the SDK expects (never a Date: the transport mangles it). */
function expiresIso(exp) {
  if (typeof exp === 'string' && Number.isNaN(Number(exp))) {
    return new Date(exp).toISOString();
  }
  const value = Number(exp);
  if (!Number.isFinite(value) || value <= 0) {
    return new Date(Date.now() + config.lifetime * 1000).toISOString();
  }
  return new Date(value > 1e12 ? value : value * 1000).toISOString(); // ms or s since epoch
}

/** The part of the editor's private API the panel's SDK uses (see wix-platform.md §9). */
const canvasAttributes = {};
const privateAPI = {
  auth: {
    async getAccessToken(appDefinitionId, metaSiteId) {
      host.tokenRequests.push({ appDefinitionId, metaSiteId });
      if (appDefinitionId !== config.appId) {
        log(`getAccessToken for an unexpected app ${appDefinitionId}`, 'error');
      }
      const { token, exp } = await mintToken(config.subject);
      log(`panel asked for an access token: minted a ${config.subject} token`);
      return { token, expires: expiresIso(exp) };
    },
  },
  info: {
    async getMetaSiteId() {
      return config.siteId || (config.siteId = await lookUpSiteId());
    },
  },
  components: {
    async getSelectedComponents() {
      return [COMPONENT_REF];
    },
  },
  refComponents: {
    async isRefComponent() {
      return false;
    },
  },
  customElement: {
    async getAttribute(_compRef, name) {
      return canvasAttributes[name];
    },
    async setAttribute(_compRef, name, value) {
      canvasAttributes[name] = value;
      host.attributes = { ...canvasAttributes };
      log(`panel set the widget attribute ${name}="${value}"`);
      document.getElementById('canvas-widget')?.setAttribute(name, String(value));
    },
    async setPreloadFonts() {},
  },
};

function connectPanel(iframe) {
  // waitAPI must be called synchronously in this callback: the panel exposes its API as
  // soon as the port connects, and the transport does not keep it for late callers.
  IFrameHostEndpoint.connect(iframe, (transport) => {
    host.connected = true;
    log('panel connected');
    setStatus('connected');
    transport
      .waitAPI(FRAME_API)
      .then((api) =>
        api.initEnvironment({
          privateAPI,
          applicationPrivateAPI: {},
          context: { appDefinitionId: config.appId },
        }),
      )
      .then(
        () => {
          host.initialized = true;
          log('panel environment initialised');
          setStatus('ready');
        },
        (error) => {
          log(`initEnvironment failed: ${error?.message ?? error}`, 'error');
          setStatus('error');
        },
      );
  });
}

function openPanel() {
  const iframe = document.createElement('iframe');
  iframe.id = 'panel-frame';
  iframe.title = 'App settings panel';
  const src = new URL(config.panel);
  src.searchParams.set('appDefinitionId', config.appId);
  iframe.src = src.toString();
  connectPanel(iframe); // listen before the panel can ping
  document.getElementById('panel-slot').append(iframe);
}

/** The widget on the canvas, as the editor previews it (with a USER token). */
function showWidget() {
  const slot = document.getElementById('canvas');
  const script = document.createElement('script');
  script.src = config.script;
  script.onerror = () => log(`could not load ${script.src}`, 'error');
  document.head.append(script);
  const element = document.createElement(config.tag);
  element.id = 'canvas-widget';
  element.setAttribute('backend-url', config.backend);
  element.setAttribute('app-id', config.appId);
  slot.append(element);
  customElements.whenDefined(config.tag).then(() => {
    element.accessTokenListener(async () => (await mintToken(config.subject)).token);
  });
}

function main() {
  document.getElementById('host-instance').textContent = config.instanceId || '(none)';
  for (const key of ['instanceId', 'appId']) if (!config[key]) problems.push(`${key} is missing`);
  if (problems.length) {
    log(`bad query parameters: ${problems.join('; ')}`, 'error');
    setStatus('error');
    return;
  }
  setStatus('connecting');
  openPanel();
  if (params.get('canvas') !== '0') showWidget();
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', main, { once: true });
} else {
  main();
}
