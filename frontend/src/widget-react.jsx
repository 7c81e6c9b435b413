// The site widget as a React component (the Wix CLI's "Editor React Component" kind), on
// the same logic module as the custom element. The bundle also defines the custom element
// <wixapp-widget-react>, which owns the Wix client (and its accessTokenListener) and
// renders the component, so a Wix site or the emulator's /site page can host it as-is.
import { useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
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

const TAG = 'wixapp-widget-react';

/**
 * Loads and shows the greeting and instance ID.
 * Props: `client` (a Wix client with site auth), `backendUrl`, optional `reloadKey`
 * (change it to load again) and `onState(state)`.
 */
export function WixappWidget({ client, backendUrl, reloadKey, onState }) {
  const state = useWidgetState(client, backendUrl, reloadKey);
  useEffect(() => {
    onState?.(state);
  }, [state, onState]);
  return <WidgetView state={state} />;
}

/** The state machine of the widget as a hook: loading → ready | error. */
export function useWidgetState(client, backendUrl, reloadKey) {
  const [state, setState] = useState(LOADING_STATE);
  useEffect(() => {
    let current = true;
    setState(LOADING_STATE);
    const hint = setTimeout(() => current && setState(WAITING_STATE), WAITING_HINT_MS);
    Promise.resolve()
      .then(() => loadWidget(client, backendUrl))
      .catch(errorState)
      .then((next) => {
        clearTimeout(hint);
        if (current) setState(next);
      });
    return () => {
      current = false;
      clearTimeout(hint);
    };
  }, [client, backendUrl, reloadKey]);
  return state;
}

export function WidgetView({ state }) {
  if (state.state === 'loading') {
    return (
      <div className="wixapp-card wixapp-loading">
        <p className="wixapp-meta">{state.hint || 'Loading…'}</p>
      </div>
    );
  }
  if (state.state === 'error') {
    return (
      <div className="wixapp-card wixapp-error" role="alert">
        <strong>This widget could not load.</strong>
        <span className="wixapp-error-message">{state.message}</span>
      </div>
    );
  }
  const style = state.accentColor ? { '--wixapp-accent': state.accentColor } : undefined;
  return (
    <div className="wixapp-card" style={style}>
      <p className="wixapp-greeting">{state.greeting}</p>
      {state.showInstanceId && (
        <p className="wixapp-meta">
          App instance: <code className="wixapp-instance-id">{state.instanceId}</code>
        </p>
      )}
    </div>
  );
}

export class WixappWidgetElement extends HTMLElement {
  static observedAttributes = ['backend-url', 'app-id', 'settings-version'];

  #auth;
  #client = null;
  #clientAppId = null;
  #root = null;
  #reloads = 0;

  constructor() {
    super();
    // As in widget.js: the client needs the app-id attribute, so it is built on connect.
    this.#auth = createSiteAuth();
    this.accessTokenListener = this.#auth.getAccessTokenInjector();
    this.widgetState = LOADING_STATE;
  }

  connectedCallback() {
    this.#root ??= createRoot(this.shadowRoot ?? this.attachShadow({ mode: 'open' }));
    this.#render();
  }

  disconnectedCallback() {
    // Unmount later: the element may just be moving within the page.
    queueMicrotask(() => {
      if (!this.isConnected && this.#root) {
        this.#root.unmount();
        this.#root = null;
      }
    });
  }

  attributeChangedCallback(_name, oldValue, newValue) {
    if (this.#root && oldValue !== newValue) this.#render();
  }

  reload() {
    this.#reloads += 1;
    this.#render();
  }

  #render() {
    let client = null;
    let failure = null;
    try {
      client = this.#clientFor(this.getAttribute('app-id'));
    } catch (error) {
      failure = errorState(error);
    }
    const reloadKey = `${this.getAttribute('settings-version') ?? ''}#${this.#reloads}`;
    this.#root.render(
      <>
        <style>{WIDGET_CSS}</style>
        {failure ? (
          <Mirror state={failure} onState={this.#onState} />
        ) : (
          <WixappWidget
            client={client}
            backendUrl={this.getAttribute('backend-url')}
            reloadKey={reloadKey}
            onState={this.#onState}
          />
        )}
      </>,
    );
  }

  #onState = (state) => {
    this.widgetState = state;
    for (const [name, value] of Object.entries(stateAttributes(state))) {
      if (value === null) this.removeAttribute(name);
      else this.setAttribute(name, value);
    }
    this.dispatchEvent(new CustomEvent('wixapp-widget-state', { detail: state, bubbles: true, composed: true }));
  };

  #clientFor(appId) {
    if (!this.#client || this.#clientAppId !== appId) {
      this.#client = createSiteClient(this.#auth, appId);
      this.#clientAppId = appId;
    }
    return this.#client;
  }
}

function Mirror({ state, onState }) {
  useEffect(() => {
    onState(state);
  }, [state, onState]);
  return <WidgetView state={state} />;
}

if (!customElements.get(TAG)) {
  customElements.define(TAG, WixappWidgetElement);
}
