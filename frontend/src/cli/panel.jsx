// A widget settings panel in the Wix CLI's form: a React component, exported as the default,
// using `widget` from @wix/editor for the widget's properties and `httpClient.fetchWithAuth`
// from @wix/essentials for the app's backend. No Wix client here: the runtime around it
// (cli/runtime-editor.js here, the Wix editor's own for a CLI app) provides the context.
import React, { useEffect, useState } from 'react';
import { widget } from '@wix/editor';
import { httpClient } from '@wix/essentials';

// The backend serves this panel's script at <backend>/static/cli-panel.js.
const BACKEND_URL = new URL('../', document.currentScript?.src || window.location.href).toString();

async function call(path, init) {
  const response = await httpClient.fetchWithAuth(new URL(path, BACKEND_URL).toString(), init);
  if (!response.ok) throw new Error(`${path} answered HTTP ${response.status}`);
  return { body: await response.json(), etag: response.headers.get('ETag') };
}

function Panel() {
  const [state, setState] = useState('loading');
  const [instanceId, setInstanceId] = useState('');
  const [greeting, setGreeting] = useState('');
  const [etag, setEtag] = useState('*');
  const [settings, setSettings] = useState({});
  const [message, setMessage] = useState('');

  useEffect(() => {
    Promise.all([call('api/get-instance'), call('api/settings')])
      .then(([instance, doc]) => {
        setInstanceId(instance.body.instanceId);
        setSettings(doc.body.settings || {});
        setGreeting(doc.body.settings?.greeting || '');
        setEtag(doc.etag || '*');
        setState('ready');
      })
      .catch((error) => {
        setMessage(error.message);
        setState('error');
      });
  }, []);

  async function save(event) {
    event.preventDefault();
    setState('saving');
    try {
      const saved = await call('api/settings', {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', 'If-Match': etag },
        body: JSON.stringify({ ...settings, greeting }),
      });
      setSettings(saved.body.settings || {});
      setEtag(saved.etag || '*');
      setMessage(`Saved, version ${saved.body.version}.`);
      setState('saved');
      widget.setProp('settings-version', String(saved.body.version)).catch(() => {});
    } catch (error) {
      setMessage(error.message);
      setState('error');
    }
  }

  return (
    <main id="panel" data-state={state} data-instance-id={instanceId}>
      <h1>Widget settings (Wix CLI form)</h1>
      <p>
        App instance: <code id="instance-id">{instanceId}</code>
      </p>
      <form onSubmit={save}>
        <label htmlFor="greeting">Greeting</label>
        <input id="greeting" value={greeting} onChange={(event) => setGreeting(event.target.value)} />
        <button id="save" type="submit" disabled={state === 'loading' || state === 'saving'}>
          Save
        </button>
      </form>
      <p id="message" role="status">{message}</p>
    </main>
  );
}

export default Panel;
