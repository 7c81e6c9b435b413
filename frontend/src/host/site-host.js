// The emulator's "Wix site": plays the part of the Wix viewer for one app widget.
// Loads the widget script, places the element, and injects a token getter through the
// element's accessTokenListener, as a Wix site does. The widget code is the unchanged
// production bundle; all pretending lives here.
//
// Query: ?instanceId=…&backend=…&appId=… [&subject=VISITOR|MEMBER] [&token=fixed]
//        [&kind=element|react] [&tag=my-widget] [&script=URL or /path on the backend]
//        [&lifetime=seconds] [&lang=en]
// Tokens are minted per request by the emulator's control API on this page's origin.
import { readHostConfig } from './config.js';

/** Today's widgets, by `kind`: their tag and script path on the backend. */
const KINDS = {
  element: { script: '/static/widget.js', tag: 'wixapp-widget' },
  react: { script: '/static/widget-react.js', tag: 'wixapp-widget-react' },
};

const kindParam = new URLSearchParams(window.location.search).get('kind');
const kind = KINDS[kindParam] ? kindParam : 'element';
const { config, problems, params } = readHostConfig(window.location.search, {
  widget: KINDS[kind],
  panelPath: '/panel',
  subject: 'VISITOR',
});
config.kind = kind;

// A Wix site page carries its language here; @wix/site sends it as x-wix-linguist.
const lang = params.get('lang') || 'en';
if (lang !== 'none') {
  window.commonConfig = { language: lang, locale: lang === 'en' ? 'en-us' : lang };
}

/** What the page did, for people and tests: window.wixHost. */
const host = { kind: 'site', config, tokensMinted: 0, tokenCalls: 0, injected: false, errors: [] };
window.wixHost = host;

function log(text, level = 'info') {
  const line = document.createElement('li');
  line.textContent = `${new Date().toISOString().slice(11, 23)} ${text}`;
  line.dataset.kind = level;
  document.getElementById('host-log')?.append(line);
  if (level === 'error') {
    host.errors.push(text);
    console.error(`site host: ${text}`);
  }
}

function setStatus(state) {
  document.body.dataset.hostState = state;
  const status = document.getElementById('host-status');
  if (status) status.textContent = state;
}

/** The getter the Wix site hands to the widget: a fresh token on every call. */
async function tokenGetter() {
  host.tokenCalls += 1;
  if (config.token) return config.token;
  const response = await fetch('/_emulator/tokens', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      instanceId: config.instanceId,
      subjectType: config.subject,
      lifetime: config.lifetime,
    }),
  });
  if (!response.ok) {
    log(`POST /_emulator/tokens answered HTTP ${response.status}: ${await response.text()}`, 'error');
    throw new Error(`The emulator did not mint a token (HTTP ${response.status})`);
  }
  host.tokensMinted += 1;
  return (await response.json()).token;
}

function main() {
  document.getElementById('host-instance').textContent = config.instanceId || '(none)';
  document.getElementById('host-subject').textContent = config.token ? 'fixed token' : config.subject;
  if (!config.appId) problems.push('appId is missing');
  if (!config.instanceId && !config.token) problems.push('instanceId (or token) is missing');
  if (problems.length) {
    log(`bad query parameters: ${problems.join('; ')}`, 'error');
    setStatus('error');
    return;
  }

  const script = document.createElement('script');
  script.src = config.script;
  script.onerror = () => {
    log(`could not load ${script.src}`, 'error');
    setStatus('error');
  };
  document.head.append(script);

  const element = document.createElement(config.tag);
  element.setAttribute('backend-url', config.backend);
  element.setAttribute('app-id', config.appId);
  element.id = 'widget';
  document.getElementById('site-widget-slot').append(element);
  setStatus('loading');

  // Only once the script has defined (and so upgraded) the element does it have a listener.
  customElements.whenDefined(config.tag).then(() => {
    if (typeof element.accessTokenListener !== 'function') {
      log(`<${config.tag}> has no accessTokenListener: it cannot receive a Wix access token`, 'error');
      setStatus('error');
      return;
    }
    element.accessTokenListener(tokenGetter);
    host.injected = true;
    log(`injected the token getter into <${config.tag}>`);
    setStatus('ready');
  });
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', main, { once: true });
} else {
  main();
}
