// A site widget in the Wix CLI's form: a custom element class, exported as the default,
// calling the app's backend with `httpClient.fetchWithAuth` from @wix/essentials. It does
// not create a Wix client or touch tokens: the runtime around it (cli/runtime-site.js here,
// Wix's own on a real site) provides the Wix context, as the CLI does.
import { httpClient } from '@wix/essentials';

async function getJson(backendUrl, path) {
  const url = new URL(path, backendUrl.endsWith('/') ? backendUrl : `${backendUrl}/`);
  const response = await httpClient.fetchWithAuth(url.toString());
  if (!response.ok) {
    const error = new Error(`${url.pathname} answered HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

class GreetingWidget extends HTMLElement {
  static observedAttributes = ['backend-url', 'settings-version'];

  #connected = false;

  connectedCallback() {
    this.#connected = true;
    this.load();
  }

  // The editor sets settings-version after a save: load again to show the new settings.
  attributeChangedCallback(_name, oldValue, newValue) {
    if (this.#connected && oldValue !== newValue) this.load();
  }

  async load() {
    this.dataset.state = 'loading';
    const backendUrl = this.getAttribute('backend-url') || '';
    try {
      const [instance, doc] = await Promise.all([
        getJson(backendUrl, 'api/get-instance'),
        getJson(backendUrl, 'api/settings'),
      ]);
      const greeting = doc?.settings?.greeting || 'Hello from a Wix CLI widget!';
      this.replaceChildren(line('p', 'cli-greeting', greeting), line('code', 'cli-instance-id', instance.instanceId));
      this.dataset.instanceId = instance.instanceId;
      this.dataset.state = 'ready';
    } catch (error) {
      this.replaceChildren(line('p', 'cli-error', `This widget could not load: ${error.message}`));
      this.dataset.errorStatus = String(error.status ?? 0);
      this.dataset.state = 'error';
    }
  }
}

// textContent only: the greeting is site owner input.
function line(tag, className, text) {
  const element = document.createElement(tag);
  element.className = className;
  element.textContent = text;
  return element;
}

export default GreetingWidget;
