// The settings panel: the Wix editor loads <backend>/assets/panel.html in an iframe. The site
// owner adds, edits, pins and deletes the site's notes (POST, PATCH, DELETE /api/notes).
// State for pages and tests: #panel[data-state] (loading | ready | saving | error).
import { createClient } from '@wix/sdk';
import { editor, widget } from '@wix/editor';
import { apiUrl, callJson } from './api.js';

// Served at <backend>/assets/panel.js: the backend's base is one level up.
const BACKEND_URL = new URL('../', document.currentScript?.src ?? window.location.href).toString();
const NOTES_URL = apiUrl(BACKEND_URL, 'api/notes');

const client = createClient({ host: editor.host(), auth: editor.auth(), modules: { widget } });
const $ = (id) => document.getElementById(id);
let changes = 0;

function setState(state, message = '') {
  $('panel').dataset.state = state;
  $('message').textContent = message;
  $('message').hidden = !message;
  $('message').setAttribute('role', state === 'error' ? 'alert' : 'status');
}

async function refresh() {
  const answer = await callJson(client, NOTES_URL);
  $('instance-id').textContent = answer.instanceId;
  $('notes').replaceChildren(...answer.notes.map(noteRow));
  $('panel').dataset.noteCount = String(answer.notes.length);
}

function noteRow(note) {
  const row = document.createElement('li');
  row.dataset.noteId = String(note.id);
  const text = document.createElement('input');
  text.value = note.text;
  text.setAttribute('aria-label', 'Note');
  const save = button('Save', () => change('PATCH', note.id, { text: text.value.trim() }));
  const pin = button(note.pinned ? 'Unpin' : 'Pin', () => change('PATCH', note.id, { pinned: !note.pinned }));
  const remove = button('Delete', () => change('DELETE', note.id));
  row.append(text, save, pin, remove);
  return row;
}

function button(label, onClick) {
  const element = document.createElement('button');
  element.type = 'button';
  element.textContent = label;
  element.dataset.action = label.toLowerCase();
  element.addEventListener('click', onClick);
  return element;
}

async function change(method, id, body) {
  setState('saving', 'Saving…');
  try {
    const url = id === undefined ? NOTES_URL : apiUrl(BACKEND_URL, `api/notes/${id}`);
    await callJson(client, url, { method, body });
    await refresh();
    setState('ready', 'Saved.');
    void tellWidget();
  } catch (error) {
    setState('error', error.message);
  }
}

// The widget on the canvas reloads when this attribute changes (best effort).
async function tellWidget() {
  changes += 1;
  try {
    await client.widget.setProp('settings-version', String(changes));
  } catch (error) {
    console.info('panel: could not update the widget on the canvas:', error?.message ?? error);
  }
}

async function main() {
  $('add-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = $('new-note').value.trim();
    if (!text) return;
    $('new-note').value = '';
    void change('POST', undefined, { text });
  });
  setState('loading', 'Loading…');
  try {
    await refresh();
    setState('ready');
  } catch (error) {
    setState('error', error.message);
  }
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', main, { once: true });
} else {
  void main();
}
