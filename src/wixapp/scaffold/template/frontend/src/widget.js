// The site widget: <wixnew-app-widget backend-url="https://…" app-id="…">.
// The Wix site injects a token getter through `accessTokenListener`; the element then lists
// its site's notes from the backend with fetchWithAuth. State for pages and tests:
// data-state (loading | ready | error), data-note-count, data-error-status.
import { createClient } from '@wix/sdk';
import { site } from '@wix/site';
import { ApiError, apiUrl, callJson } from './api.js';

const TAG = 'wixnew-app-widget';

const CSS = `
:host { display: block; font: 15px/1.4 system-ui, sans-serif; color: #162d3d; }
.card { max-width: 32rem; padding: 1rem 1.25rem; border: 1px solid #d6dce5; border-radius: 12px; background: #fff; }
.card h2 { margin: 0 0 .5rem; font-size: 1.1rem; }
.card ul { margin: 0; padding-left: 1.2rem; }
.pinned { font-weight: 600; }
.error { border-color: #e62214; background: #fff4f3; color: #8c1209; }
`;

class NotesWidget extends HTMLElement {
  static observedAttributes = ['backend-url', 'app-id', 'settings-version'];

  #auth = site.auth();
  #root = this.attachShadow({ mode: 'open' });
  #loads = 0;

  constructor() {
    super();
    // The Wix site calls this with a token getter before the widget's first request.
    this.accessTokenListener = this.#auth.getAccessTokenInjector();
  }

  connectedCallback() {
    void this.#load();
  }

  attributeChangedCallback(_name, before, after) {
    if (this.isConnected && before !== null && before !== after) void this.#load();
  }

  async #load() {
    const load = ++this.#loads;
    this.#show({ state: 'loading' });
    let state;
    try {
      const appId = this.getAttribute('app-id');
      const backend = this.getAttribute('backend-url');
      if (!appId || !backend) throw new ApiError('Set the "app-id" and "backend-url" attributes.', 0);
      const client = createClient({ auth: this.#auth, host: site.host({ applicationId: appId }) });
      const answer = await callJson(client, apiUrl(backend, 'api/notes'));
      state = { state: 'ready', notes: answer.notes };
    } catch (error) {
      state = { state: 'error', status: error.status ?? 0, message: error.message };
    }
    if (load === this.#loads) this.#show(state);
  }

  #show(state) {
    this.dataset.state = state.state;
    if (state.state === 'ready') this.dataset.noteCount = String(state.notes.length);
    else delete this.dataset.noteCount;
    if (state.state === 'error') this.dataset.errorStatus = String(state.status);
    else delete this.dataset.errorStatus;
    const style = document.createElement('style');
    style.textContent = CSS;
    this.#root.replaceChildren(style, render(state));
  }
}

// textContent only: the notes are site owner input.
function render(state) {
  const card = document.createElement('div');
  card.className = 'card';
  if (state.state === 'loading') {
    card.textContent = 'Loading…';
  } else if (state.state === 'error') {
    card.classList.add('error');
    card.setAttribute('role', 'alert');
    card.textContent = `This widget could not load. ${state.message}`;
  } else {
    const title = document.createElement('h2');
    title.textContent = state.notes.length ? 'Notes' : 'No notes yet';
    const list = document.createElement('ul');
    for (const note of state.notes) {
      const item = document.createElement('li');
      item.textContent = note.text;
      if (note.pinned) item.className = 'pinned';
      list.append(item);
    }
    card.append(title, list);
  }
  return card;
}

if (!customElements.get(TAG)) customElements.define(TAG, NotesWidget);
