// What the Wix CLI's runtime does around a site widget, for a self-hosted page: one Wix
// client with the site's auth and host, enabled as the global Wix context (so
// `httpClient.fetchWithAuth` from @wix/essentials finds it), and the widget's element
// defined with the `accessTokenListener` the Wix site injects its token getter through.
// The widget's own code (the default export) stays exactly as the CLI writes it.
import { createClient } from '@wix/sdk';
import { site } from '@wix/site';

// Created while the script first runs: site.auth() looks for a host token function then.
const auth = site.auth();
let client = null;

/** The context client; the app ID is the element's `app-id` (the CLI knows it at build). */
function enableContext(appId) {
  if (client) return client;
  if (!appId) throw new Error('The widget element has no app-id attribute: set it to the app ID.');
  client = createClient({ auth, host: site.host({ applicationId: appId }) });
  client.enableContext('global');
  return client;
}

/** Define `tag` as the CLI widget class, hosted: context first, then the widget's code. */
export function defineSiteWidget(tag, WidgetElement) {
  class HostedWidget extends WidgetElement {
    constructor() {
      super();
      this.accessTokenListener = auth.getAccessTokenInjector();
    }

    connectedCallback() {
      enableContext(this.getAttribute('app-id'));
      super.connectedCallback?.();
    }
  }
  if (!customElements.get(tag)) customElements.define(tag, HostedWidget);
}
