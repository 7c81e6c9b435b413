// The dashboard page: the site's Wix dashboard loads <backend>/assets/dashboard.html in an
// iframe. The site owner (a Wix user: @wix/dashboard's token) lists, adds, edits and deletes
// the site's notes; each change is confirmed with a dashboard toast.
// State for pages and tests: #dashboard[data-state] (loading | ready | saving | error).
import { createClient } from '@wix/sdk';
import { dashboard } from '@wix/dashboard';
import { apiUrl, callJson } from './api.js';

// Served at <backend>/assets/dashboard.js: the backend's base is one level up.
const BACKEND_URL = new URL('../', document.currentScript?.src ?? window.location.href).toString();
const NOTES_URL = apiUrl(BACKEND_URL, 'api/notes');

const client = createClient({ host: dashboard.host(), auth: dashboard.auth(), modules: { dashboard } });
const $ = (id) => document.getElementById(id);

function setState(state, message = '') {
  $('dashboard').dataset.state = state;
  $('message').textContent = message;
  $('message').hidden = !message;
}

async function refresh() {
  const answer = await callJson(client, NOTES_URL);
  $('instance-id').textContent = answer.instanceId;
  $('notes').replaceChildren(...answer.notes.map(noteRow));
  $('dashboard').dataset.noteCount = String(answer.notes.length);
}

function noteRow(note) {
  const row = document.createElement('tr');
  row.dataset.noteId = String(note.id);
  const text = document.createElement('input');
  text.value = note.text;
  text.setAttribute('aria-label', 'Note');
  const cell = document.createElement('td');
  cell.append(text);
  const actions = document.createElement('td');
  actions.append(
    button('Save', () => change('PATCH', note.id, { text: text.value.trim() }, 'Note saved')),
    button('Delete', () => change('DELETE', note.id, undefined, 'Note deleted')),
  );
  row.append(cell, actions);
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

async function change(method, id, body, done) {
  setState('saving');
  try {
    const url = id === undefined ? NOTES_URL : apiUrl(BACKEND_URL, `api/notes/${id}`);
    await callJson(client, url, { method, body });
    await refresh();
    setState('ready');
    client.dashboard.showToast({ message: done, type: 'success' });
  } catch (error) {
    setState('error', error.message);
    client.dashboard.showToast({ message: error.message, type: 'error' });
  }
}

async function main() {
  $('add-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = $('new-note').value.trim();
    if (!text) return;
    $('new-note').value = '';
    void change('POST', undefined, { text }, 'Note added');
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
