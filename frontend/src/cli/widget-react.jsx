// A site widget in the Wix CLI's React form: a function component wrapped into a custom
// element with react-to-webcomponent, exported as the default, as the CLI's template has it.
// Backend calls go through `httpClient.fetchWithAuth` from @wix/essentials; the Wix context
// comes from the runtime around it (cli/runtime-site.js here, Wix's own on a real site).
import React, { useEffect, useState } from 'react';
import ReactDOM from 'react-dom/client';
import reactToWebComponent from 'react-to-webcomponent';
import { httpClient } from '@wix/essentials';

async function getJson(backendUrl, path) {
  const url = new URL(path, backendUrl.endsWith('/') ? backendUrl : `${backendUrl}/`);
  const response = await httpClient.fetchWithAuth(url.toString());
  if (!response.ok) throw new Error(`${url.pathname} answered HTTP ${response.status}`);
  return response.json();
}

function GreetingWidget({ backendUrl = '', container }) {
  const [state, setState] = useState({ state: 'loading' });

  useEffect(() => {
    let current = true;
    Promise.all([getJson(backendUrl, 'api/get-instance'), getJson(backendUrl, 'api/settings')])
      .then(([instance, doc]) => ({
        state: 'ready',
        instanceId: instance.instanceId,
        greeting: doc?.settings?.greeting || 'Hello from a Wix CLI React widget!',
      }))
      .catch((error) => ({ state: 'error', message: error.message }))
      .then((next) => current && setState(next));
    return () => {
      current = false;
    };
  }, [backendUrl]);

  // Mirrored on the element so pages and tests can read it, as the other widgets do.
  useEffect(() => {
    container?.setAttribute('data-state', state.state);
    if (state.instanceId) container?.setAttribute('data-instance-id', state.instanceId);
  }, [container, state]);

  if (state.state === 'loading') return <p>Loading…</p>;
  if (state.state === 'error') return <p className="cli-error">This widget could not load: {state.message}</p>;
  return (
    <div>
      <p className="cli-greeting">{state.greeting}</p>
      <code className="cli-instance-id">{state.instanceId}</code>
    </div>
  );
}

const customElement = reactToWebComponent(GreetingWidget, React, ReactDOM, {
  props: { backendUrl: 'string' },
});

export default customElement;
