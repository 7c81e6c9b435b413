// What the Wix CLI's runtime does around a widget settings panel, for a self-hosted page:
// one Wix client with the editor's auth and host, enabled as the global Wix context (so
// `widget` from @wix/editor and `httpClient.fetchWithAuth` from @wix/essentials find it),
// then the panel component rendered. The panel's own code stays as the CLI writes it.
import React from 'react';
import { createRoot } from 'react-dom/client';
import { createClient } from '@wix/sdk';
import { editor } from '@wix/editor';

export function renderPanel(Panel, container) {
  createClient({ auth: editor.auth(), host: editor.host() }).enableContext('global');
  createRoot(container).render(React.createElement(Panel));
}
