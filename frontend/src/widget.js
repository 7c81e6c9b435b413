// The site widget as a custom element: <wixapp-widget backend-url="https://…" app-id="…">.
// The Wix site (or the emulator's /site page) injects a token getter through
// `accessTokenListener`; the element then calls its backend with `fetchWithAuth`.
import {
  createSiteAuth,
  createSiteClient,
  errorState,
  loadWidget,
  LOADING_STATE,
  stateAttributes,
  WAITING_HINT_MS,
  WAITING_STATE,
  WIDGET_CSS,
} from './widget-core.js';

const TAG = 'wixapp-widget';

export class WixappWidget extends HTMLElement {
  static observedAttributes = ['backend-url', 'app-id', 'settings-version'];

  #auth;
  #client = null;
  #clientAppId = null;
  #started = false;
  #loads = 0;
  #root;

  constructor() {
    super();
    // A constructor may not read attributes (they are not set yet when the page uses
    // createElement), and site.host() needs the app ID, so the client itself is built on
    // connect. The auth strategy is the one the client uses: client.auth === this.#auth.
    this.#auth = createSiteAuth();
    this.accessTokenListener = this.#auth.getAccessTokenInjector();
    this.#root = this.attachShadow({ mode: 'open' });
    this.widgetState = LOADING_STATE;
  }

  connectedCallback() {
    this.#started = true;
    this.#load();
  }

  attributeChangedCallback(_name, oldValue, newValue) {
    if (this.#started && this.isConnected && oldValue !== newValue) {
      this.#load();
    }
  }

  /** Load again (for example after the settings changed). */
  reload() {
    return this.#load();
  }

  async #load() {
    const load = ++this.#loads;
    this.#show(LOADING_STATE);
    // fetchWithAuth waits for the host's token getter without a timeout: say so.
    const hint = setTimeout(() => {
      if (load === this.#loads) this.#show(WAITING_STATE);
    }, WAITING_HINT_MS);
    let state;
    try {
      const client = this.#clientFor(this.getAttribute('app-id'));
      state = await loadWidget(client, this.getAttribute('backend-url'));
    } catch (error) {
      state = errorState(error);
    } finally {
      clearTimeout(hint);
    }
    if (load === this.#loads) {
      this.#show(state);
    }
  }

  #clientFor(appId) {
    if (!this.#client || this.#clientAppId !== appId) {
      this.#client = createSiteClient(this.#auth, appId);
      this.#clientAppId = appId;
    }
    return this.#client;
  }

  #show(state) {
    this.widgetState = state;
    for (const [name, value] of Object.entries(stateAttributes(state))) {
      if (value === null) this.removeAttribute(name);
      else this.setAttribute(name, value);
    }
    this.#root.replaceChildren(style(), render(state));
    this.dispatchEvent(new CustomEvent('wixapp-widget-state', { detail: state, bubbles: true, composed: true }));
  }
}

function style() {
  const element = document.createElement('style');
  element.textContent = WIDGET_CSS;
  return element;
}

// Built with textContent only: the greeting is site owner input.
function render(state) {
  const card = el('div', 'wixapp-card');
  if (state.state === 'loading') {
    card.classList.add('wixapp-loading');
    card.append(el('p', 'wixapp-meta', state.hint || 'Loading…'));
  } else if (state.state === 'error') {
    card.classList.add('wixapp-error');
    card.setAttribute('role', 'alert');
    card.append(el('strong', null, 'This widget could not load.'), el('span', 'wixapp-error-message', state.message));
  } else {
    if (state.accentColor) card.style.setProperty('--wixapp-accent', state.accentColor);
    card.append(el('p', 'wixapp-greeting', state.greeting));
    if (state.showInstanceId) {
      const meta = el('p', 'wixapp-meta', 'App instance: ');
      meta.append(el('code', 'wixapp-instance-id', state.instanceId));
      card.append(meta);
    }
  }
  return card;
}

function el(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

if (!customElements.get(TAG)) {
  customElements.define(TAG, WixappWidget);
}
