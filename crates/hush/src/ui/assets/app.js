// hush ui — the page. Plain JavaScript, no framework, no build step; served by `hush ui` under a
// strict CSP (no inline script or style, no eval, same-origin only). Every text that comes from
// the API is put in the page with textContent, never as HTML.
//
// Sections: 1. helpers  2. API  3. shell (toast, dialog, alerts banner, events, router)
//           4. screens: onboarding, unlock, linking, conversations, chat, files, verify,
//              devices, recovery, settings  5. boot
'use strict';

// ───────────────────────────── 1. helpers ─────────────────────────────

/** Builds an element: el('a', {href: '#/x', class: 'c', onclick: fn}, 'text', child…). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (['value', 'checked', 'disabled', 'hidden', 'required', 'multiple', 'open'].includes(key)) node[key] = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, ...children);
  return node;
}

function append(node, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function clear(node, ...children) {
  node.replaceChildren();
  return append(node, ...children);
}

const $ = (sel, root = document) => root.querySelector(sel);

const shown = new WeakMap();
/** False when `node` already shows `data` (so a refresh does not steal focus or re-announce). */
function changed(node, data) {
  const sig = JSON.stringify(data);
  if (shown.get(node) === sig) return false;
  shown.set(node, sig);
  return true;
}

let uid = 0;
/** A labelled form field: returns {wrap, input}. */
function field(label, attrs = {}, hint = null) {
  const id = attrs.id || `f${++uid}`;
  const tag = attrs.tag || 'input';
  delete attrs.tag;
  const hintId = hint ? `${id}-hint` : null;
  const input = el(tag, { id, name: id, 'aria-describedby': hintId, ...attrs });
  const wrap = el('div', { class: 'field' }, el('label', { for: id }, label), input,
    hint ? el('p', { class: 'hint', id: hintId }, hint) : null);
  return { wrap, input };
}

function button(text, onclick, attrs = {}) {
  return el('button', { type: 'button', onclick, ...attrs }, text);
}

/** Turns API times (seconds, milliseconds or an ISO string) into local text. */
function fmtTime(value) {
  if (value === null || value === undefined || value === '') return '';
  let ms = typeof value === 'number' ? (value > 1e12 ? value : value * 1000) : Date.parse(value);
  if (typeof value === 'string' && Number.isNaN(ms) && /^\d+$/.test(value)) ms = Number(value) * 1000;
  if (Number.isNaN(ms)) return String(value);
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

function fmtBytes(n) {
  if (typeof n !== 'number') return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function utf8Base64(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

function splitNames(text) {
  return text.split(/[\s,]+/).map((s) => s.replace(/^@/, '').trim()).filter(Boolean);
}

/** `https://…`, or plain http only to this computer. Returns an error sentence or null. */
function checkServerUrl(text) {
  let url;
  try { url = new URL(text.trim()); } catch { return 'The server address is not a valid URL (for example https://hush.example.org).'; }
  if (url.protocol === 'https:') return null;
  const local = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol === 'http:' && local) return null;
  return 'Use an https:// address; plain http is only allowed for a server on this computer (http://127.0.0.1).';
}

// ───────────────────────────── 2. API ─────────────────────────────

class ApiError extends Error {
  constructor(message, kind, status) { super(message); this.kind = kind; this.status = status; }
}

const state = {
  status: null,        // GET /api/status
  conversations: [],   // last GET /api/conversations
  alerts: [],          // last GET /api/alerts
  onboarding: null,    // {phase, phrase, …} while the onboarding flow holds the screen
  linkCode: null,
  screen: null,        // {update, dispose} of what is shown
};

async function api(method, path, body, retried = false) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (method !== 'GET') {
    init.headers['X-Hush-Csrf'] = state.status ? state.status.csrf : '';
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body || {});
  }
  let res;
  try { res = await fetch(path, init); } catch {
    throw new ApiError('hush ui is not answering: is it still running in the terminal?', 'unreachable', 0);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (res.ok) return data;
  const kind = (data && data.kind) || 'internal';
  const message = (data && data.error) || `hush ui answered ${res.status}.`;
  if (kind === 'forbidden' && method !== 'GET' && !retried) {
    // The CSRF token may be stale (daemon restarted): read it again once.
    await loadStatus().catch(() => {});
    return api(method, path, body, true);
  }
  if (kind === 'locked' && state.status && state.status.account === 'open') {
    loadStatus().then(route).catch(() => {});
  }
  if (kind === 'session') showSessionEnded();
  throw new ApiError(message, kind, res.status);
}

async function loadStatus() {
  state.status = await api('GET', '/api/status');
  $('#whoami').textContent = state.status.account === 'open' && state.status.username ? `@${state.status.username}` : '';
  return state.status;
}

const me = () => (state.status && state.status.username) || '';

function convName(c) {
  if (!c) return '';
  if (c.direct && Array.isArray(c.members)) {
    const names = c.members.map((m) => (typeof m === 'string' ? m : m.username));
    const other = names.find((n) => n !== me());
    if (other) return other;
  }
  return c.name || c.id;
}

// ───────────────────────────── 3. shell ─────────────────────────────

let toastTimer = null;
function toast(text, bad = false) {
  const t = $('#toast');
  t.textContent = text;
  t.classList.toggle('bad', bad);
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove('show'), bad ? 9000 : 4000);
}

/** Shows an error sentence in `where` (an element with role=alert semantics) or as a toast. */
function showError(err, where) {
  const text = err instanceof Error ? err.message : String(err);
  if (where) { where.textContent = text; where.hidden = false; } else toast(text, true);
  if (err && ['server', 'alert', 'key_changed'].includes(err.kind)) refreshAlerts();
}

function formError() {
  return el('p', { class: 'error', role: 'alert', hidden: true });
}

/**
 * A modal question. fields: [{name, label, value, type}]. Resolves with null when cancelled,
 * else with {name: value}.
 */
function ask({ title, body = [], fields = [], confirm = 'OK', cancel = 'Cancel', danger = false }) {
  const dialog = $('#dialog');
  const form = $('#dialog-form');
  $('#dialog-title').textContent = title;
  const inputs = {};
  const bodyNodes = body.map((b) => (typeof b === 'string' ? el('p', {}, b) : b));
  for (const f of fields) {
    const { wrap, input } = field(f.label, { tag: f.tag, type: f.type || 'text', value: f.value || '', required: f.required !== false, autocomplete: 'off' });
    inputs[f.name] = input;
    bodyNodes.push(wrap);
  }
  clear($('#dialog-body'), bodyNodes);
  const ok = el('button', { type: 'submit', value: 'ok', class: danger ? 'danger' : 'primary' }, confirm);
  const no = el('button', { type: 'submit', value: 'cancel', formnovalidate: true }, cancel);
  // OK first: Enter in a field submits with the form's first button.
  clear($('#dialog-actions'), ok, no);
  return new Promise((resolve) => {
    const done = (value) => {
      form.removeEventListener('submit', onSubmit);
      dialog.removeEventListener('cancel', onCancel);
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onSubmit = (e) => {
      e.preventDefault();
      if (e.submitter !== ok) return done(null);
      const out = {};
      for (const [k, input] of Object.entries(inputs)) out[k] = input.value;
      return done(out);
    };
    const onCancel = (e) => { e.preventDefault(); done(null); };
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener('cancel', onCancel);
    dialog.showModal();
    (Object.values(inputs)[0] || ok).focus();
  });
}

// ── alerts: a banner until acknowledged, and in their conversation ──

async function refreshAlerts() {
  if (!state.status || state.status.account !== 'open') { shown.delete($('#alert-banner')); clear($('#alert-banner')); return; }
  try { state.alerts = (await api('GET', '/api/alerts')) || []; } catch { return; }
  renderBanner();
}

function alertNode(a, inConversation) {
  const aboutUser = String(a.conversation_id || '').startsWith('@');
  const where = a.conversation && !inConversation ? ` ${aboutUser ? 'about' : 'in'} ${a.conversation}` : '';
  const ack = button('Acknowledge', () => ackAlert(a.id), { class: 'ack', 'aria-label': `Acknowledge alert: ${a.text}` });
  const open = !inConversation && a.conversation_id
    ? el('a', { href: `#/c/${encodeURIComponent(a.conversation_id)}` }, 'Open the conversation') : null;
  return el('div', inConversation ? { class: 'alert', 'data-testid': 'conversation-alert' } : { class: 'alert', role: 'alert' },
    el('strong', {}, a.blocking ? `Security alert${where}: sending is paused. ` : `Security alert${where}: `),
    el('span', { class: 'alert-text' }, a.text), ' ',
    el('time', {}, fmtTime(a.at)),
    el('span', { class: 'alert-actions' }, open, ack));
}

function renderBanner() {
  if (!changed($('#alert-banner'), state.alerts)) return;
  clear($('#alert-banner'), state.alerts.map((a) => alertNode(a, false)));
}

async function ackAlert(id) {
  try {
    await api('POST', `/api/alerts/${encodeURIComponent(id)}/ack`, {});
    toast('Alert acknowledged.');
  } catch (e) { showError(e); }
  await refreshAlerts();
  refresh();
}

// ── live updates: EventSource /api/events → refetch what is shown ──

let events = null;
const progressListeners = new Set();

function openEvents() {
  if (events) return;
  events = new EventSource('/api/events');
  const live = $('#live-state');
  events.onopen = () => { live.textContent = ''; refresh(); };
  events.onerror = () => { live.textContent = 'Reconnecting…'; };
  events.onmessage = (e) => {
    let ev;
    try { ev = JSON.parse(e.data); } catch { return; }
    if (ev.type === 'changed') { if (live.dataset.offline) { live.textContent = ''; delete live.dataset.offline; } refresh(); }
    else if (ev.type === 'offline') { live.textContent = 'Offline: the server is not answering; retrying.'; live.dataset.offline = '1'; }
    else if (ev.type === 'alert') { refreshAlerts(); refresh(); }
    else if (ev.type === 'progress') progressListeners.forEach((fn) => fn(ev));
    else if (ev.type === 'linked') onLinked();
    else if (ev.type === 'link_failed') onLinkFailed(ev.error || 'Linking failed.');
  };
}

let refreshing = false;
let refreshAgain = false;
let refreshTimer = null;

/** Refetches what is on screen (debounced; never two at once). */
function refresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(runRefresh, 80);
}

async function runRefresh() {
  if (refreshing) { refreshAgain = true; return; }
  refreshing = true;
  try {
    do {
      refreshAgain = false;
      if (!state.status || state.status.account !== 'open') break;
      await refreshAlerts();
      // The screen first: opening a conversation marks it read before the badge is counted.
      if (state.screen && state.screen.update) await state.screen.update();
      if (!(state.screen && state.screen.listsConversations)) await refreshConversations();
    } while (refreshAgain);
  } catch (e) {
    console.error('refresh failed:', e);
    if (e.kind !== 'session') toast(e.message, true);
  } finally { refreshing = false; }
}

async function refreshConversations() {
  try { state.conversations = (await api('GET', '/api/conversations')) || []; } catch { return; }
  const total = state.conversations.reduce((n, c) => n + (c.unread || 0), 0);
  const badge = $('#unread-total');
  badge.hidden = total === 0;
  badge.textContent = String(total);
  badge.setAttribute('aria-label', `${total} unread`);
}

// ── router ──

function setNav(show, current) {
  $('#sidebar').hidden = !show;
  $('#menu-toggle').hidden = !show;
  document.querySelectorAll('[data-nav]').forEach((a) => {
    if (a.dataset.nav === current) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
  document.body.classList.remove('menu-open');
  $('#menu-toggle').setAttribute('aria-expanded', 'false');
}

function mount(screen, nav, focus = true) {
  if (state.screen && state.screen.dispose) state.screen.dispose();
  state.screen = screen;
  setNav(nav !== null, nav);
  const main = $('#main');
  clear(main, screen.node);
  document.title = screen.title ? `${screen.title} · hush` : 'hush';
  const h1 = $('h1', main);
  if (focus && h1) { h1.setAttribute('tabindex', '-1'); h1.focus({ preventScroll: true }); }
  if (screen.update) screen.update().catch((e) => { console.error('showing the screen failed:', e); showError(e); });
}

function route() {
  const s = state.status;
  if (!s) return;
  if (state.onboarding) return mount(onboardingScreen(), null);
  if (s.account === 'none') return mount(onboardingScreen(), null);
  if (s.account === 'locked') return mount(unlockScreen(), null);
  if (s.account === 'linking') return mount(linkingScreen(), null);
  const hash = location.hash || '#/conversations';
  let m;
  if ((m = hash.match(/^#\/c\/([^/]+)$/))) return mount(chatScreen(decodeURIComponent(m[1])), 'conversations');
  if ((m = hash.match(/^#\/files(?:\/(.*))?$/))) return mount(filesScreen(decodeURIComponent(m[1] || '')), 'files');
  if ((m = hash.match(/^#\/verify\/(.+)$/))) return mount(verifyScreen(decodeURIComponent(m[1])), 'conversations');
  if (hash === '#/devices') return mount(devicesScreen(), 'devices');
  if (hash === '#/recovery') return mount(recoveryScreen(), 'recovery');
  if (hash === '#/settings') return mount(settingsScreen(), 'settings');
  if (hash !== '#/conversations') { history.replaceState(null, '', '#/conversations'); }
  return mount(conversationsScreen(), 'conversations');
}

function go(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

function showSessionEnded() {
  if (events) { events.close(); events = null; }
  setNav(false, null);
  state.screen = null;
  clear($('#main'), el('h1', { tabindex: -1 }, 'This page is not signed in'),
    el('p', {}, 'Open the link that `hush ui` printed in your terminal (it works once), or start `hush ui` again for a new one.'));
}

// ───────────────────────────── 4. screens ─────────────────────────────

// ── onboarding: create an account, link to my other device, recover ──

function onboardingScreen() {
  const ob = state.onboarding;
  if (ob && ob.phase === 'phrase') return phraseScreen(ob);
  if (ob && ob.phase === 'check') return phraseCheckScreen(ob);
  if (ob && ob.phase === 'code') return linkCodeScreen(ob);
  const choice = (ob && ob.choice) || 'register';
  const panel = el('div', { class: 'panel' });
  const choices = [['register', 'Create an account'], ['link', 'Link to my other device'], ['recover', 'Recover my account']];
  const bar = el('div', { class: 'choices', role: 'group', 'aria-label': 'How to start' });
  const show = (which) => {
    bar.querySelectorAll('button').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.choice === which)));
    clear(panel, which === 'register' ? registerForm() : which === 'link' ? linkForm() : recoverForm());
  };
  for (const [key, label] of choices) bar.append(button(label, () => show(key), { 'data-choice': key, 'aria-pressed': 'false' }));
  const node = el('section', { class: 'onboarding' },
    el('h1', {}, 'Welcome to hush'),
    el('p', {}, 'Messages and files, end-to-end encrypted: only the people in a conversation can read it, not the server.'),
    bar, panel);
  show(choice);
  return { title: 'Welcome', node };
}

function serverField() {
  return field('Server address', { type: 'url', value: 'https://', required: true, autocomplete: 'url', spellcheck: 'false' },
    'Your hush server. Use https://; plain http:// is allowed only for a server on this computer (127.0.0.1).');
}

function registerForm() {
  const server = serverField();
  const user = field('Username', { required: true, autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false' });
  const pass = field('Passphrase', { type: 'password', required: true, autocomplete: 'new-password' },
    'At least 8 characters; it protects this device’s copy of your keys. Several words are easier to remember than symbols.');
  const again = field('Passphrase again', { type: 'password', required: true, autocomplete: 'new-password' });
  const err = formError();
  const submit = el('button', { type: 'submit', class: 'primary' }, 'Create account');
  return el('form', {
    class: 'card', 'aria-label': 'Create an account',
    onsubmit: async (e) => {
      e.preventDefault();
      err.hidden = true;
      const bad = checkServerUrl(server.input.value);
      if (bad) return showError(bad, err);
      if (pass.input.value.length < 8) return showError('Choose a passphrase of at least 8 characters.', err);
      if (pass.input.value !== again.input.value) return showError('The two passphrases are not the same.', err);
      submit.disabled = true;
      submit.textContent = 'Creating…';
      try {
        const r = await api('POST', '/api/register', { server: server.input.value.trim(), username: user.input.value.trim(), passphrase: pass.input.value });
        const phrase = String((r && r.recovery_phrase) || '').trim().split(/\s+/).filter(Boolean);
        state.onboarding = phrase.length >= 3 ? { phase: 'phrase', phrase } : null;
        if (!state.onboarding) toast('Your account is ready (no recovery phrase was made on this device).');
        await loadStatus().catch(() => {});
        route();
      } catch (ex) {
        showError(ex, err);
        submit.disabled = false;
        submit.textContent = 'Create account';
      }
    },
  }, el('h2', {}, 'Create an account'), server.wrap, user.wrap, pass.wrap, again.wrap, err, submit);
}

function phraseScreen(ob) {
  const words = el('ol', { class: 'phrase', 'data-testid': 'recovery-phrase' },
    ob.phrase.map((w, i) => el('li', {}, el('span', { class: 'n', 'aria-hidden': 'true' }, `${i + 1}.`), el('span', { class: 'word' }, w))));
  const node = el('section', { class: 'onboarding' },
    el('h1', {}, 'Your recovery phrase'),
    el('p', {}, `Write these ${ob.phrase.length} words on paper, in order, and keep them somewhere safe. They are shown only this once.`),
    el('p', {}, 'With them you can get your account back if you lose every device. Anyone who has them can too, so do not photograph them or store them in the cloud.'),
    words,
    el('div', { class: 'actions' }, button('I have written them down', () => {
      if (!ob.positions) {
        const picks = new Set();
        while (picks.size < 3) picks.add(Math.floor(Math.random() * ob.phrase.length));
        ob.positions = [...picks].sort((a, b) => a - b);
      }
      ob.phase = 'check';
      route();
    }, { class: 'primary' })));
  return { title: 'Recovery phrase', node };
}

function phraseCheckScreen(ob) {
  const err = formError();
  const inputs = ob.positions.map((p) => field(`Word ${p + 1}`, { required: true, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', 'data-position': p + 1 }));
  const node = el('section', { class: 'onboarding' },
    el('h1', {}, 'Check your recovery phrase'),
    el('p', {}, 'Type these words from your paper, to be sure it is right.'),
    el('form', {
      class: 'card', 'data-testid': 'phrase-check', 'aria-label': 'Check your recovery phrase',
      onsubmit: (e) => {
        e.preventDefault();
        for (let i = 0; i < inputs.length; i++) {
          const p = ob.positions[i];
          if (inputs[i].input.value.trim().toLowerCase() !== ob.phrase[p].toLowerCase()) {
            return showError(`Word ${p + 1} is not the one shown; look at your paper again.`, err);
          }
        }
        state.onboarding = null;
        toast('Your account is ready.');
        history.replaceState(null, '', '#/conversations');
        route();
        return refresh();
      },
    }, inputs.map((i) => i.wrap), err,
    el('div', { class: 'actions' },
      button('Show the words again', () => { ob.phase = 'phrase'; route(); }),
      el('button', { type: 'submit', class: 'primary' }, 'Check'))));
  return { title: 'Check your recovery phrase', node };
}

function linkForm() {
  const server = serverField();
  const user = field('Username', { required: true, autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false' }, 'The username of your account on your other device.');
  const pass = field('Passphrase', { type: 'password', required: true, autocomplete: 'new-password' }, 'Protects this device’s copy of your keys.');
  const err = formError();
  const submit = el('button', { type: 'submit', class: 'primary' }, 'Link this device');
  return el('form', {
    class: 'card', 'aria-label': 'Link to my other device',
    onsubmit: async (e) => {
      e.preventDefault();
      err.hidden = true;
      const bad = checkServerUrl(server.input.value);
      if (bad) return showError(bad, err);
      submit.disabled = true;
      try {
        const r = await api('POST', '/api/link', { server: server.input.value.trim(), username: user.input.value.trim(), passphrase: pass.input.value });
        state.linkCode = r.code;
        state.onboarding = { phase: 'code', code: r.code };
        route();
      } catch (ex) { showError(ex, err); submit.disabled = false; }
    },
  }, el('h2', {}, 'Link to my other device'),
  el('p', {}, 'Your other device approves this one; then this device receives your conversations.'),
  server.wrap, user.wrap, pass.wrap, err, submit);
}

function linkCodeScreen(ob) {
  const err = formError();
  if (ob.error) { err.textContent = ob.error; err.hidden = false; }
  const node = el('section', { class: 'onboarding' },
    el('h1', {}, 'Approve this device'),
    el('p', {}, 'On your other device, open Devices and enter this code:'),
    el('p', { class: 'code', 'data-testid': 'link-code' }, ob.code || ''),
    el('p', { class: 'muted', role: 'status' }, ob.error ? '' : 'Waiting for your other device…'),
    err,
    ob.error ? button('Start again', () => { state.onboarding = { choice: 'link' }; route(); }) : null);
  const poll = setInterval(async () => {
    try { const s = await loadStatus(); if (s.account === 'open') onLinked(); } catch { /* the event will tell */ }
  }, 3000);
  return { title: 'Approve this device', node, dispose: () => clearInterval(poll) };
}

async function onLinked() {
  const waiting = state.linkCode || (state.onboarding && state.onboarding.phase === 'code') || (state.status && state.status.account === 'linking');
  if (!waiting) return;
  state.onboarding = null;
  state.linkCode = null;
  await loadStatus().catch(() => {});
  toast('This device is linked.');
  history.replaceState(null, '', '#/conversations');
  route();
  refresh();
}

function onLinkFailed(error) {
  state.onboarding = { phase: 'code', code: state.linkCode, error };
  loadStatus().catch(() => {}).then(route);
}

function recoverForm() {
  const server = serverField();
  const user = field('Username', { required: true, autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false' });
  const phrase = field('Recovery phrase', { tag: 'textarea', rows: 3, required: true, autocomplete: 'off', spellcheck: 'false' }, 'The 24 words, separated by spaces.');
  const pass = field('New passphrase', { type: 'password', required: true, autocomplete: 'new-password' });
  const again = field('New passphrase again', { type: 'password', required: true, autocomplete: 'new-password' });
  const err = formError();
  const submit = el('button', { type: 'submit', class: 'primary' }, 'Recover account');
  return el('form', {
    class: 'card', 'aria-label': 'Recover my account',
    onsubmit: async (e) => {
      e.preventDefault();
      err.hidden = true;
      const bad = checkServerUrl(server.input.value);
      if (bad) return showError(bad, err);
      if (pass.input.value !== again.input.value) return showError('The two passphrases are not the same.', err);
      submit.disabled = true;
      try {
        await api('POST', '/api/recover', {
          server: server.input.value.trim(), username: user.input.value.trim(),
          phrase: phrase.input.value.trim().split(/\s+/).join(' '), passphrase: pass.input.value,
        });
        state.onboarding = null;
        await loadStatus();
        toast('Your account is back on this device.');
        go('#/conversations');
      } catch (ex) { showError(ex, err); submit.disabled = false; }
    },
  }, el('h2', {}, 'Recover my account'),
  el('p', {}, 'Use the recovery phrase you wrote down when you created the account.'),
  server.wrap, user.wrap, phrase.wrap, pass.wrap, again.wrap, err, submit);
}

function unlockScreen() {
  const pass = field('Passphrase', { type: 'password', required: true, autocomplete: 'current-password' });
  const err = formError();
  const node = el('section', { class: 'onboarding' },
    el('h1', {}, 'Unlock hush'),
    el('form', {
      class: 'card', 'aria-label': 'Unlock',
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          state.status = await api('POST', '/api/unlock', { passphrase: pass.input.value });
          await loadStatus();
          route();
          refresh();
        } catch (ex) { showError(ex, err); }
      },
    }, pass.wrap, err, el('button', { type: 'submit', class: 'primary' }, 'Unlock')));
  return { title: 'Unlock', node };
}

function linkingScreen() {
  if (state.linkCode) return linkCodeScreen({ code: state.linkCode });
  const node = el('section', { class: 'onboarding' }, el('h1', {}, 'Waiting for your other device'),
    el('p', {}, 'This device is being linked to your account: approve it on your other device, in Devices, with the code shown when linking started.'));
  const poll = setInterval(() => loadStatus().then((s) => { if (s.account !== 'linking') route(); }).catch(() => {}), 3000);
  return { title: 'Linking', node, dispose: () => clearInterval(poll) };
}

// ── sending (shared by the new-chat form and the chat) ──

/** Sends; asks first when the person is new. Returns the conversation id, or null if cancelled. */
async function sendMessage(to, text, label) {
  try {
    return (await api('POST', '/api/send', { to, text, new: false })).conversation_id;
  } catch (e) {
    if (e.kind !== 'new_contact') throw e;
    const who = to.startsWith('@') ? to.slice(1) : label;
    const ok = await ask({
      title: `${who} is new to you`,
      body: [e.message, `You have never talked with ${who} before. Make sure, in person or another way you trust, that this is their username; later, compare safety numbers to verify them.`],
      confirm: `Yes, message ${who}`,
    });
    if (!ok) return null;
    return (await api('POST', '/api/send', { to, text, new: true })).conversation_id;
  }
}

/** The active one-to-one conversation with `user`, if there is one. */
function directWith(user) {
  return state.conversations.find((c) => c.direct && c.active !== false && (c.members || []).includes(user)
    && c.members.every((m) => m === user || m === me()));
}

// ── conversations ──

function conversationsScreen() {
  const list = el('ul', { class: 'conv-list', 'aria-label': 'Conversations' });
  const empty = el('p', { class: 'muted', hidden: true }, 'No conversations yet: start one below.');

  const to = field('Their username', { required: true, autocapitalize: 'none', spellcheck: 'false', placeholder: 'username' });
  const first = field('First message', { tag: 'textarea', rows: 2, required: true });
  const chatErr = formError();
  const chatForm = el('form', {
    class: 'card', 'aria-label': 'New chat',
    onsubmit: async (e) => {
      e.preventDefault();
      chatErr.hidden = true;
      const user = to.input.value.trim().replace(/^@/, '');
      try {
        const id = await sendMessage(`@${user}`, first.input.value, user);
        // Open the chat, unless the person went elsewhere meanwhile.
        if (id) { first.input.value = ''; if (chatForm.isConnected) go(`#/c/${encodeURIComponent(id)}`); }
      } catch (ex) {
        showError(ex, chatErr);
        // An alert about this person: open the chat with them, where it shows and blocks sending.
        if (['server', 'alert', 'key_changed'].includes(ex.kind)) { await refreshAlerts(); if (chatForm.isConnected) go(`#/c/${encodeURIComponent(`@${user}`)}`); }
      }
    },
  }, el('h2', {}, 'New chat'), to.wrap, first.wrap, chatErr, el('button', { type: 'submit', class: 'primary' }, 'Send'));

  const gname = field('Group name', { required: true });
  const gmembers = field('Members', { required: true, autocapitalize: 'none', spellcheck: 'false', placeholder: 'username, username' }, 'Usernames, separated by commas or spaces.');
  const groupErr = formError();
  const groupForm = el('form', {
    class: 'card', 'aria-label': 'New group',
    onsubmit: async (e) => {
      e.preventDefault();
      groupErr.hidden = true;
      try {
        const r = await api('POST', '/api/conversations', { name: gname.input.value.trim(), members: splitNames(gmembers.input.value) });
        toast(`Group ${gname.input.value.trim()} created.`);
        if (groupForm.isConnected) go(`#/c/${encodeURIComponent(r.id)}`);
      } catch (ex) { showError(ex, groupErr); }
    },
  }, el('h2', {}, 'New group'), gname.wrap, gmembers.wrap, groupErr, el('button', { type: 'submit', class: 'primary' }, 'Create group'));

  const update = async () => {
    const convs = state.conversations;
    empty.hidden = convs.length > 0;
    if (!changed(list, [convs, me()])) return;
    clear(list, convs.map((c) => {
      const metaId = `meta-${c.id}`;
      const last = c.last ? `${c.last.sender === me() ? 'You' : c.last.sender}: ${c.last.text}` : 'No messages yet';
      return el('li', { class: `conv${c.unread ? ' unread' : ''}${c.active === false ? ' inactive' : ''}` },
        el('a', { href: `#/c/${encodeURIComponent(c.id)}`, 'aria-describedby': metaId }, convName(c)),
        el('span', { class: 'meta', id: metaId },
          c.direct ? null : el('span', { class: 'tag' }, 'Group'),
          c.alerts ? el('span', { class: 'badge warn' }, `${c.alerts} alert${c.alerts > 1 ? 's' : ''}`) : null,
          c.unread ? el('span', { class: 'badge' }, `${c.unread} unread`) : null,
          el('span', { class: 'last' }, last),
          c.last ? el('time', {}, fmtTime(c.last.at)) : null));
    }));
  };
  const node = el('section', { class: 'conversations' },
    el('h1', {}, 'Conversations'), empty, list,
    el('div', { class: 'forms' }, chatForm, groupForm));
  return { title: 'Conversations', node, listsConversations: true, update: async () => { await refreshConversations(); await update(); } };
}

// ── chat ──

function chatScreen(id) {
  // `@user`: a chat with someone before the conversation exists (alerts about them show here).
  const draftUser = id.startsWith('@') ? id.slice(1) : null;
  const h1 = el('h1', {}, draftUser || 'Conversation');
  const filesLink = el('a', { href: `#/files/${encodeURIComponent(`#${id}:`)}`, class: 'button' }, 'Files of this conversation');
  const alertsBox = el('div', { class: 'conv-alerts' });
  const ended = el('p', { class: 'notice', hidden: true, 'data-testid': 'not-member' });
  const list = el('ol', { class: 'messages', 'aria-label': 'Messages', 'aria-live': 'polite', 'aria-relevant': 'additions' });
  const empty = el('p', { class: 'muted', hidden: true }, 'No messages yet: your first message starts the conversation.');
  const scroller = el('div', { class: 'scroller' }, empty, list);
  const composer = field('Message', { tag: 'textarea', rows: 2, 'aria-describedby': 'composer-note', placeholder: 'Write a message' });
  const note = el('p', { id: 'composer-note', class: 'composer-note', role: 'status' });
  const sendBtn = el('button', { type: 'submit', class: 'primary' }, 'Send');
  let conv = null;
  let rendered = { count: 0, lastKey: '' };
  let blockedReason = '';

  const setBlocked = (reason) => {
    blockedReason = reason;
    sendBtn.disabled = Boolean(reason);
    note.textContent = reason;
    note.classList.toggle('bad', Boolean(reason));
  };

  const form = el('form', {
    class: 'composer', 'aria-label': 'Send a message',
    onsubmit: async (e) => {
      e.preventDefault();
      const text = composer.input.value;
      if (!text.trim()) return;
      if (blockedReason) { note.textContent = blockedReason; return; }
      sendBtn.disabled = true;
      try {
        const cid = await sendMessage(id, text, draftUser || convName(conv));
        if (cid) { composer.input.value = ''; note.textContent = ''; note.classList.remove('bad'); }
        if (cid && draftUser && form.isConnected) go(`#/c/${encodeURIComponent(cid)}`);
      } catch (ex) {
        note.textContent = ex.kind === 'alert' ? `Not sent: ${ex.message} Acknowledge the alert above to send again.`
          : ex.kind === 'key_changed' ? `Not sent: ${ex.message} Verify them or accept their new key in the member list.`
            : `Not sent: ${ex.message}`;
        note.classList.add('bad');
        if (['server', 'alert', 'key_changed'].includes(ex.kind)) refreshAlerts();
      } finally {
        sendBtn.disabled = Boolean(blockedReason);
        refresh();
      }
    },
  }, composer.wrap, note, sendBtn);
  composer.input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });

  const members = el('ul', { class: 'members', 'aria-label': 'Members and their devices' });
  const addInput = field('Add people', { autocapitalize: 'none', spellcheck: 'false', placeholder: 'dave, erin' }, 'Usernames, separated by commas or spaces.');
  const addErr = formError();
  const addForm = el('form', {
    class: 'add-form',
    onsubmit: async (e) => {
      e.preventDefault();
      addErr.hidden = true;
      const users = splitNames(addInput.input.value);
      if (!users.length) return;
      try { await api('POST', `/api/conversations/${encodeURIComponent(id)}/add`, { users }); addInput.input.value = ''; toast(`Added ${users.join(', ')}.`); } catch (ex) { showError(ex, addErr); }
      refresh();
    },
  }, addInput.wrap, addErr, el('button', { type: 'submit' }, 'Add'));
  const historyBox = el('input', {
    type: 'checkbox', id: `history-${id}`,
    onchange: async (e) => {
      try { await api('POST', `/api/conversations/${encodeURIComponent(id)}/history`, { on: e.target.checked }); toast(e.target.checked ? 'History is on.' : 'History is off.'); } catch (ex) { e.target.checked = !e.target.checked; showError(ex); }
    },
  });
  const historyRow = el('div', { class: 'check' }, historyBox,
    el('label', { for: historyBox.id }, 'Share earlier messages with people and devices who join'));
  const leaveBtn = button('Leave this conversation', async () => {
    const ok = await ask({ title: `Leave ${convName(conv)}?`, body: ['You will no longer receive its messages. Someone in it has to add you again to come back.'], confirm: 'Leave', danger: true });
    if (!ok) return;
    try { await api('POST', `/api/conversations/${encodeURIComponent(id)}/leave`, {}); toast('You left the conversation.'); } catch (ex) { showError(ex); }
    refresh();
  }, { class: 'danger' });
  const groupTools = el('div', { class: 'group-tools' }, addForm, historyRow, leaveBtn);
  const aside = el('aside', { class: 'member-panel', 'aria-labelledby': `members-h-${id}` },
    el('h2', { id: `members-h-${id}` }, 'Members'), members, groupTools);

  const renderMessage = (m) => {
    if (m.kind === 'event') return el('li', { class: 'event' }, el('span', {}, m.text), ' ', el('time', {}, fmtTime(m.sent_at)));
    if (m.kind === 'warning') return el('li', { class: 'warning' }, el('strong', {}, 'Warning: '), el('span', {}, m.text), ' ', el('time', {}, fmtTime(m.sent_at)));
    return el('li', { class: `msg${m.mine || m.sender === me() ? ' mine' : ''}` },
      el('span', { class: 'sender' }, m.mine ? 'You' : m.sender === me() ? 'You (another device)' : m.sender),
      el('span', { class: 'sr' }, ': '),
      el('p', { class: 'text' }, m.text),
      el('time', {}, fmtTime(m.sent_at)));
  };
  const keyOf = (m) => (m ? `${m.sender}|${m.device}|${m.sent_at}|${m.kind}|${m.text}` : '');

  const renderMessages = (msgs) => {
    const nearBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    if (rendered.count <= msgs.length && keyOf(msgs[rendered.count - 1]) === rendered.lastKey) {
      append(list, msgs.slice(rendered.count).map(renderMessage));
    } else {
      list.setAttribute('aria-busy', 'true');
      clear(list, msgs.map(renderMessage));
      list.removeAttribute('aria-busy');
    }
    const grew = msgs.length !== rendered.count;
    rendered = { count: msgs.length, lastKey: keyOf(msgs[msgs.length - 1]) };
    if (grew && (nearBottom || msgs.length && msgs[msgs.length - 1].mine)) scroller.scrollTop = scroller.scrollHeight;
  };

  const renderMembers = (c) => {
    if (!changed(members, [c.members, c.direct, c.active])) return;
    clear(members, (c.members || []).map((m) => {
      const badge = m.me ? null : m.key_changed ? el('span', { class: 'badge warn' }, 'Key changed')
        : m.verified ? el('span', { class: 'badge ok' }, 'Verified') : el('span', { class: 'badge muted' }, 'Not verified');
      const actions = [];
      if (!m.me) {
        actions.push(el('a', { href: `#/verify/${encodeURIComponent(m.username)}`, 'aria-label': `Verify ${m.username}` }, 'Verify'));
        if (m.key_changed) {
          actions.push(button('Accept new key', async () => {
            const ok = await ask({ title: `Accept ${m.username}'s new key?`, body: [`${m.username}'s identity key changed. This happens when they reinstall or recover, or when someone impersonates them. Comparing safety numbers is safer.`], confirm: 'Accept without verifying', danger: true });
            if (!ok) return;
            try { const r = await api('POST', `/api/trust/${encodeURIComponent(m.username)}`, {}); toast((r && r.message) || 'Accepted.'); } catch (ex) { showError(ex); }
            refresh();
          }, { 'aria-label': `Accept ${m.username}'s new key` }));
        }
        if (!c.direct && c.active !== false) {
          actions.push(button('Remove', async () => {
            const ok = await ask({ title: `Remove ${m.username}?`, body: [`${m.username} will no longer receive messages or files of ${convName(c)}.`], confirm: `Remove ${m.username}`, danger: true });
            if (!ok) return;
            try { await api('POST', `/api/conversations/${encodeURIComponent(id)}/remove`, { users: [m.username] }); toast(`${m.username} was removed.`); } catch (ex) { showError(ex); }
            refresh();
          }, { 'aria-label': `Remove ${m.username}`, class: 'danger' }));
        }
      }
      return el('li', { class: 'member', 'data-testid': `member-${m.username}` },
        el('div', { class: 'member-head' }, el('strong', {}, m.username), m.me ? ' (you)' : '', ' ', badge),
        el('ul', { class: 'devices', 'aria-label': `Devices of ${m.username}` }, (m.devices || []).map((d) =>
          el('li', {}, 'Device ', el('code', {}, d.device_id), d.device_id === state.status.device_id ? ' (this one)' : '',
            d.fingerprint ? el('span', { class: 'fp' }, ' · ', el('code', {}, d.fingerprint)) : null))),
        actions.length ? el('div', { class: 'member-actions' }, actions) : null);
    }));
  };

  const update = async () => {
    let c;
    if (draftUser) {
      if (!state.conversations.length) await refreshConversations();
      const existing = directWith(draftUser);
      if (existing) { history.replaceState(null, '', `#/c/${encodeURIComponent(existing.id)}`); route(); return; }
      if (!state.alerts.length) await refreshAlerts();
      c = { id, name: draftUser, direct: true, active: true, history: false, messages: [], members: [], alerts: [] };
    } else {
      try { c = await api('GET', `/api/conversations/${encodeURIComponent(id)}`); } catch (e) {
        clear(list); ended.hidden = false; ended.textContent = e.message; return;
      }
    }
    conv = c;
    h1.textContent = convName(c);
    document.title = `${convName(c)} · hush`;
    // Alerts filed under the conversation, and (one-to-one) those about the other person.
    const other = c.direct ? (c.members || []).map((m) => m.username).find((u) => u !== me()) || draftUser : null;
    const alerts = [...(c.alerts || [])];
    for (const a of state.alerts) {
      if ((a.conversation_id === id || (other && a.conversation_id === `@${other}`)) && !alerts.some((x) => x.id === a.id)) alerts.push(a);
    }
    c.alerts = alerts;
    empty.hidden = !draftUser || (c.messages || []).length > 0;
    aside.hidden = Boolean(draftUser);
    filesLink.hidden = Boolean(draftUser);
    if (changed(alertsBox, alerts)) clear(alertsBox, alerts.map((a) => alertNode(a, true)));
    renderMessages(c.messages || []);
    renderMembers(c);
    const active = c.active !== false;
    ended.hidden = active;
    ended.textContent = active ? '' : 'You are no longer a member of this conversation: you were removed or you left. You can still read what was sent before.';
    form.hidden = !active;
    groupTools.hidden = c.direct || !active;
    historyBox.checked = Boolean(c.history);
    const blocking = alerts.some((a) => a.blocking);
    const keyChanged = (c.members || []).filter((m) => m.key_changed && !m.me).map((m) => m.username);
    setBlocked(blocking ? 'Sending is paused until you acknowledge the security alert above.'
      : keyChanged.length ? `Sending is paused: the key of ${keyChanged.join(', ')} changed. Verify them or accept the new key in the member list.` : '');
  };

  const node = el('section', { class: 'chat' },
    el('div', { class: 'chat-head' }, h1, el('div', { class: 'head-links' }, filesLink, button('Members', () => { const h = $('h2', aside); h.setAttribute('tabindex', '-1'); h.scrollIntoView(); h.focus(); }, { class: 'only-narrow' }))),
    alertsBox, ended,
    el('div', { class: 'chat-body' }, el('div', { class: 'chat-main' }, scroller, form), el('div', { id: 'members-panel' }, aside)));
  return { title: 'Conversation', node, update };
}

// ── files: the personal drive and each conversation's space ──

const specOf = {
  parse(spec) {
    const m = spec.match(/^#([^:]*):(.*)$/);
    return m ? { conv: m[1], path: m[2] } : { conv: null, path: spec };
  },
  make(conv, path) { return conv !== null ? `#${conv}:${path}` : path; },
  join(dir, name) { return dir && dir !== '/' ? `${dir.replace(/\/+$/, '')}/${name}` : name; },
  /** The spec of an item listed in `loc` (its path may be space-relative or a full spec). */
  item(loc, item) {
    if (item.path && item.path.startsWith('#')) return item.path;
    const p = specOf.parse(loc);
    return specOf.make(p.conv, item.path || specOf.join(p.path, item.name));
  },
  route(spec) { return `#/files/${encodeURIComponent(spec)}`; },
};

function filesScreen(spec) {
  const loc = specOf.parse(spec);
  const h1 = el('h1', {}, loc.conv !== null ? 'Conversation files' : 'Your drive');
  const places = el('ul', { class: 'places', 'aria-label': 'Places' });
  const crumbs = el('ol', { class: 'crumbs' });
  const body = el('tbody');
  const empty = el('p', { class: 'muted', hidden: true }, 'This folder is empty.');
  const uploads = el('ul', { class: 'uploads', 'aria-label': 'Uploads', 'aria-live': 'polite', 'aria-relevant': 'additions' });
  const err = formError();
  const openVersions = new Set();

  const picker = el('input', { type: 'file', id: 'upload-picker', multiple: true, class: 'visually-hidden', onchange: (e) => { uploadAll([...e.target.files]); e.target.value = ''; } });
  const pickLabel = el('label', { for: 'upload-picker', class: 'button primary', tabindex: '0', role: 'button',
    onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); picker.click(); } } }, 'Upload files');
  const folderName = field('New folder', { placeholder: 'Folder name' });
  const mkdirForm = el('form', {
    class: 'inline-form',
    onsubmit: async (e) => {
      e.preventDefault();
      const name = folderName.input.value.trim();
      if (!name) return;
      try { await api('POST', '/api/files/mkdir', { at: specOf.make(loc.conv, specOf.join(loc.path, name)) }); folderName.input.value = ''; toast(`Folder ${name} created.`); } catch (ex) { showError(ex, err); }
      refresh();
    },
  }, folderName.wrap, el('button', { type: 'submit' }, 'Create folder'));

  // Uploads: the browser → daemon transfer (XHR progress), then the daemon's own progress events.
  const rows = new Map();
  const uploadRow = (name, what = 'Upload') => {
    if (rows.has(name)) return rows.get(name);
    const bar = el('progress', { max: 1, value: 0, 'aria-label': `${what} of ${name}` });
    const text = el('span', { class: 'stage' }, 'Waiting…');
    const li = el('li', {}, el('span', { class: 'name' }, name), bar, text);
    uploads.append(li);
    const row = { li, bar, text };
    rows.set(name, row);
    return row;
  };
  const finished = new Set();
  const onProgress = (ev) => {
    // Late news of a finished upload, or the very end of some other transfer: nothing to show.
    if (!ev.name || finished.has(ev.name)) return;
    if (!rows.has(ev.name) && !(ev.total && (ev.done || 0) < ev.total)) return;
    const ours = rows.has(ev.name) && !rows.get(ev.name).byEvent;
    const row = uploadRow(ev.name, ev.stage === 'downloading' ? 'Download' : 'Upload');
    if (!ours) row.byEvent = true;
    if (ev.total) { row.bar.max = ev.total; row.bar.value = ev.done || 0; }
    const pct = ev.total ? ` ${Math.floor((100 * (ev.done || 0)) / ev.total)}%` : '';
    row.text.textContent = `${ev.stage || 'working'}${pct}`;
    if (row.byEvent && ev.total && (ev.done || 0) >= ev.total) {
      row.li.classList.add('done');
      rows.delete(ev.name);
      setTimeout(() => row.li.remove(), 5_000);
    }
  };
  progressListeners.add(onProgress);

  const uploadOne = (file) => new Promise((resolve) => {
    const row = uploadRow(file.name);
    row.byEvent = false;
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/files/upload?to=${encodeURIComponent(specOf.make(loc.conv, loc.path))}&name=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.setRequestHeader('X-Hush-Csrf', state.status.csrf);
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      row.bar.max = e.total; row.bar.value = e.loaded;
      row.text.textContent = `sending to hush ${Math.floor((100 * e.loaded) / e.total)}%`;
    };
    xhr.upload.onload = () => { row.text.textContent = 'encrypting and uploading…'; };
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = null; }
      if (xhr.status >= 200 && xhr.status < 300) {
        row.bar.value = row.bar.max;
        row.text.textContent = `uploaded${data && data.version ? ` (version ${data.version})` : ''}`;
        row.li.classList.add('done');
        setTimeout(() => row.li.remove(), 15_000);
      } else {
        row.text.textContent = `failed: ${(data && data.error) || `hush ui answered ${xhr.status}.`}`;
        row.li.classList.add('failed');
        if (data && data.kind === 'server') refreshAlerts();
      }
      rows.delete(file.name);
      finished.add(file.name);
      setTimeout(() => finished.delete(file.name), 3000);
      resolve();
    };
    xhr.onerror = () => { row.text.textContent = 'failed: hush ui did not answer.'; row.li.classList.add('failed'); rows.delete(file.name); resolve(); };
    xhr.send(file);
  });
  const uploadAll = async (files) => {
    for (const f of files) {
      await uploadOne(f);
      refresh();
    }
  };

  const zone = el('div', { class: 'drop-zone', 'data-testid': 'drop-zone', 'aria-describedby': 'drop-hint' });
  let depth = 0;
  zone.addEventListener('dragenter', (e) => { e.preventDefault(); depth++; zone.classList.add('over'); });
  zone.addEventListener('dragover', (e) => { e.preventDefault(); if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy'; });
  zone.addEventListener('dragleave', () => { depth = Math.max(0, depth - 1); if (!depth) zone.classList.remove('over'); });
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    depth = 0;
    zone.classList.remove('over');
    const files = e.dataTransfer ? [...e.dataTransfer.files] : [];
    if (files.length) uploadAll(files);
  });

  const action = (label, fn, danger = false) => button(label, fn, danger ? { class: 'danger' } : {});
  const menu = (item, itemSpec) => {
    const name = item.name;
    const acts = [
      action('Rename or move', async () => {
        const r = await ask({ title: `Rename or move ${name}`, fields: [{ name: 'to', label: 'New path', value: specOf.parse(itemSpec).path }], confirm: 'Move' });
        if (!r) return;
        const to = r.to.startsWith('#') ? r.to : specOf.make(loc.conv, r.to.replace(/^\/+/, ''));
        try { await api('POST', '/api/files/move', { from: itemSpec, to }); toast(`${name} moved.`); } catch (ex) { showError(ex); }
        refresh();
      }),
      action('Share', async () => {
        const r = await ask({ title: `Share ${name}`, fields: [{ name: 'with', label: 'With (a username or a group’s name)' }], confirm: 'Share' });
        if (!r) return;
        try { await api('POST', '/api/files/share', { at: itemSpec, with: r.with.trim().replace(/^@/, '') }); toast(`${name} shared with ${r.with.trim()}.`); } catch (ex) { showError(ex); }
        refresh();
      }),
      action('Stop sharing', async () => {
        const r = await ask({ title: `Stop sharing ${name}`, fields: [{ name: 'from', label: 'Stop sharing with (a username or a group’s name)' }], confirm: 'Stop sharing' });
        if (!r) return;
        try { await api('POST', '/api/files/unshare', { at: itemSpec, from: r.from.trim().replace(/^@/, '') }); toast(`${name} is no longer shared with ${r.from.trim()}.`); } catch (ex) { showError(ex); }
        refresh();
      }),
    ];
    if (item.kind === 'file') {
      acts.push(action('Export for an age recipient', async () => {
        const r = await ask({ title: `Export ${name}`, body: ['Makes a standard age file that the owner of this age recipient can decrypt with age, without hush.'], fields: [{ name: 'recipient', label: 'Age recipient (age1…)' }], confirm: 'Export' });
        if (!r) return;
        const rec = r.recipient.trim();
        if (!/^age1[0-9a-z]+$/.test(rec)) { toast('An age recipient starts with age1 followed by letters and digits.', true); return; }
        const a = el('a', { href: `/api/files/export?at=${encodeURIComponent(itemSpec)}&recipient=${encodeURIComponent(rec)}`, download: `${name}.age` });
        document.body.append(a); a.click(); a.remove();
      }));
    }
    acts.push(action('Delete', async () => {
      const folder = item.kind === 'folder';
      const ok = await ask({ title: `Delete ${name}?`, body: [folder ? 'The folder and everything in it will be deleted for everyone who shares this space.' : 'The file and its versions will be deleted for everyone who shares this space.'], confirm: 'Delete', danger: true });
      if (!ok) return;
      try { await api('POST', '/api/files/delete', { at: itemSpec, recursive: folder }); toast(`${name} deleted.`); } catch (ex) { showError(ex); }
      refresh();
    }, true));
    return el('details', { class: 'menu' }, el('summary', { 'aria-label': `More actions for ${name}` }, 'More'), el('div', { class: 'menu-items' }, acts));
  };

  const versionsRow = (item, itemSpec) => {
    const current = Number(item.version) || 1;
    const kept = Math.max(1, Number(item.versions_kept) || 1);
    const links = [];
    for (let v = current; v >= Math.max(1, current - kept + 1); v--) {
      links.push(el('li', {}, el('a', {
        href: `/api/files/download?at=${encodeURIComponent(itemSpec)}&version=${v}`, download: item.name,
        'aria-label': `Download version ${v} of ${item.name}`,
      }, `Version ${v}${v === current ? ' (current)' : ''}`)));
    }
    return el('tr', { class: 'versions' }, el('td', { colspan: 6 }, el('ul', { 'aria-label': `Versions of ${item.name}` }, links)));
  };

  const renderItems = (items) => {
    empty.hidden = items.length > 0;
    if (!changed(body, [items, [...openVersions]])) return;
    const out = [];
    for (const item of items) {
      const itemSpec = specOf.item(spec, item);
      const isFolder = item.kind === 'folder';
      const nameCell = isFolder
        ? el('a', { href: specOf.route(itemSpec), class: 'folder' }, el('span', { 'aria-hidden': 'true' }, '📁 '), item.name)
        : el('span', { class: 'file' }, item.name);
      const actions = [];
      if (!isFolder) {
        actions.push(el('a', { href: `/api/files/download?at=${encodeURIComponent(itemSpec)}`, download: item.name, class: 'button', 'aria-label': `Download ${item.name}` }, 'Download'));
        if (Number(item.version) > 1 || Number(item.versions_kept) > 1) {
          const open = openVersions.has(itemSpec);
          actions.push(button('Versions', () => { if (openVersions.has(itemSpec)) openVersions.delete(itemSpec); else openVersions.add(itemSpec); refresh(); },
            { 'aria-expanded': String(open), 'aria-label': `Versions of ${item.name}` }));
        }
      }
      actions.push(menu(item, itemSpec));
      out.push(el('tr', { 'data-testid': `item-${item.name}` },
        el('th', { scope: 'row' }, nameCell),
        el('td', {}, isFolder ? '' : fmtBytes(item.size)),
        el('td', {}, fmtTime(item.modified_at)),
        el('td', {}, item.author || ''),
        el('td', {}, isFolder ? '' : String(item.version || '')),
        el('td', { class: 'row-actions' }, actions)));
      if (!isFolder && openVersions.has(itemSpec)) out.push(versionsRow(item, itemSpec));
    }
    clear(body, out);
  };

  const renderCrumbs = () => {
    const rootName = loc.conv !== null ? (convName(state.conversations.find((c) => c.id === loc.conv)) || 'Conversation') : 'Your drive';
    const parts = loc.path.split('/').filter(Boolean);
    const items = [el('li', {}, el('a', { href: specOf.route(specOf.make(loc.conv, '')) }, rootName))];
    parts.forEach((p, i) => {
      const path = parts.slice(0, i + 1).join('/');
      items.push(el('li', {}, i === parts.length - 1 ? el('span', { 'aria-current': 'location' }, p) : el('a', { href: specOf.route(specOf.make(loc.conv, path)) }, p)));
    });
    clear(crumbs, items);
    if (loc.conv !== null) h1.textContent = `Files of ${rootName}`;
  };

  const renderPlaces = () => {
    const link = (href, text, current) => el('li', {}, el('a', { href, 'aria-current': current ? 'page' : null }, text));
    clear(places, link('#/files', 'Your drive', loc.conv === null),
      state.conversations.map((c) => link(specOf.route(specOf.make(c.id, '')), convName(c), loc.conv === c.id)));
  };

  const update = async () => {
    renderPlaces();
    renderCrumbs();
    const r = await api('GET', `/api/files?at=${encodeURIComponent(spec)}`);
    renderItems((r && r.items) || []);
  };

  append(zone,
    el('table', { class: 'files' },
      el('caption', { class: 'visually-hidden' }, 'Files and folders'),
      el('thead', {}, el('tr', {}, ['Name', 'Size', 'Modified', 'By', 'Version', 'Actions'].map((t) => el('th', { scope: 'col' }, t)))),
      body),
    empty,
    el('p', { class: 'hint', id: 'drop-hint' }, 'Drag files here to upload them into this folder.'));
  const node = el('section', { class: 'files-screen' },
    h1,
    el('div', { class: 'files-layout' },
      el('nav', { 'aria-label': 'Places', class: 'places-nav' }, el('h2', {}, 'Places'), places),
      el('div', { class: 'files-main' },
        el('nav', { 'aria-label': 'Folder path', class: 'path-bar' }, crumbs,
          loc.conv !== null ? el('a', { href: `#/c/${encodeURIComponent(loc.conv)}` }, 'Open the conversation') : null),
        el('div', { class: 'toolbar' }, picker, pickLabel, mkdirForm),
        err, uploads, zone)));
  // Others' changes to a space are not pushed: look again every 10 s while this is shown.
  const poll = setInterval(() => { if (document.visibilityState === 'visible') refresh(); }, 10_000);
  return { title: 'Files', node, update, dispose: () => { progressListeners.delete(onProgress); clearInterval(poll); } };
}

// ── verify a contact: safety number and QR code ──

function verifyScreen(user) {
  const number = el('p', { class: 'safety', 'data-testid': 'safety-number', 'aria-label': 'Safety number' });
  const qr = el('img', { class: 'qr', alt: `QR code of the safety number you share with ${user}`, hidden: true });
  const stateLine = el('p', { class: 'verify-state', role: 'status' });
  const payload = el('code', { class: 'payload', 'data-testid': 'qr-payload' });
  const err = formError();
  let info = null;

  const show = (s) => {
    info = s;
    const groups = String(s.number || '').trim().split(/\s+/);
    clear(number, groups.map((g) => el('span', { class: 'group' }, g)).flatMap((g, i) => (i ? [' ', g] : [g])));
    if (s.qr_svg) { qr.src = `data:image/svg+xml;base64,${utf8Base64(s.qr_svg)}`; qr.hidden = false; }
    payload.textContent = s.qr_payload || '';
    stateLine.textContent = s.key_changed ? `${user}'s key changed${s.was_verified ? ' since you verified them' : ''}: compare the numbers again before trusting it.`
      : s.verified ? `You have verified ${user}.` : `${user} is not verified yet.`;
    stateLine.className = `verify-state ${s.key_changed ? 'bad' : s.verified ? 'ok' : ''}`;
    trustBtn.hidden = !s.key_changed;
  };
  const confirmBtn = button('The numbers match: mark as verified', async () => {
    err.hidden = true;
    try { show(await api('POST', `/api/safety/${encodeURIComponent(user)}/confirm`, {})); toast(`${user} is verified.`); } catch (ex) { showError(ex, err); }
  }, { class: 'primary' });
  const trustBtn = button('Accept the new key without verifying', async () => {
    const ok = await ask({ title: `Accept ${user}'s new key?`, body: ['Only do this if you know why their key changed (a new install, a recovery).'], confirm: 'Accept', danger: true });
    if (!ok) return;
    try { const r = await api('POST', `/api/trust/${encodeURIComponent(user)}`, {}); toast((r && r.message) || 'Accepted.'); await update(); } catch (ex) { showError(ex, err); }
  }, { class: 'danger', hidden: true });

  const submitScanned = async (text) => {
    err.hidden = true;
    try { show(await api('POST', `/api/safety/${encodeURIComponent(user)}/confirm`, { scanned: text.trim() })); toast(`The code matches: ${user} is verified.`); return true; } catch (ex) { showError(ex, err); return false; }
  };
  const pasted = field('Their code', { tag: 'textarea', rows: 2, spellcheck: 'false', placeholder: 'hush-verify-v1:…' }, `Paste the code ${user}'s device shows under its QR code.`);
  const pasteForm = el('form', { class: 'card', 'aria-label': 'Check their code', onsubmit: (e) => { e.preventDefault(); if (pasted.input.value.trim()) submitScanned(pasted.input.value); } },
    el('h2', {}, 'Check their code'), pasted.wrap, el('button', { type: 'submit' }, 'Check the code'));

  let stream = null;
  let timer = null;
  const stopCamera = () => { clearInterval(timer); timer = null; if (stream) stream.getTracks().forEach((t) => t.stop()); stream = null; };
  const video = el('video', { class: 'camera', muted: true, playsinline: true, hidden: true, 'aria-label': 'Camera' });
  const scanBtn = 'BarcodeDetector' in window ? button('Scan their QR code with the camera', async () => {
    err.hidden = true;
    try {
      const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
      video.srcObject = stream; video.hidden = false; await video.play();
      timer = setInterval(async () => {
        const codes = await detector.detect(video).catch(() => []);
        const hit = codes.find((c) => String(c.rawValue).startsWith('hush-verify-v1:'));
        if (hit) { stopCamera(); video.hidden = true; await submitScanned(hit.rawValue); }
      }, 300);
    } catch (ex) { stopCamera(); showError(`The camera could not be used (${ex.message}); paste their code instead.`, err); }
  }) : null;

  const update = async () => { show(await api('GET', `/api/safety/${encodeURIComponent(user)}`)); };
  const node = el('section', { class: 'verify' },
    el('h1', {}, `Verify ${user}`),
    el('p', {}, `Compare this number with the one on ${user}'s screen, side by side or over a call you trust. If they are the same, nobody is in between.`),
    number, stateLine,
    el('div', { class: 'actions' }, confirmBtn, trustBtn), err,
    el('div', { class: 'verify-qr' },
      el('div', {}, el('h2', {}, 'Or scan'), qr, el('p', { class: 'hint' }, 'Your code, as text: '), payload),
      el('div', {}, scanBtn, video, pasteForm)));
  return { title: `Verify ${user}`, node, update, dispose: stopCamera };
}

// ── devices ──

function devicesScreen() {
  const list = el('ul', { class: 'device-list', 'aria-label': 'Your devices' });
  const code = field('Code shown on the new device', { required: true, autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', placeholder: 'K7QD-482913' });
  const err = formError();
  const approve = el('form', {
    class: 'card', 'aria-label': 'Link a new device',
    onsubmit: async (e) => {
      e.preventDefault();
      err.hidden = true;
      try {
        const r = await api('POST', '/api/devices/approve', { code: code.input.value.trim() });
        code.input.value = '';
        toast(`Device ${r && r.device_id ? r.device_id : ''} approved: it now receives your conversations.`);
      } catch (ex) { showError(ex, err); }
      refresh();
    },
  }, el('h2', {}, 'Link a new device'),
  el('p', {}, 'On the new device, choose “Link to my other device”. It shows a code: type it here.'),
  code.wrap, err, el('button', { type: 'submit', class: 'primary' }, 'Approve device'));
  const update = async () => {
    const devices = (await api('GET', '/api/devices')) || [];
    if (!changed(list, devices)) return;
    clear(list, devices.map((d) => el('li', {},
      el('code', {}, d.device_id), d.this ? el('span', { class: 'badge ok' }, 'This device') : null,
      d.this ? null : button('Revoke', async () => {
        const ok = await ask({ title: `Revoke device ${d.device_id}?`, body: ['It is removed from every conversation and can read nothing sent afterwards. Use this for a lost or stolen device.'], confirm: 'Revoke', danger: true });
        if (!ok) return;
        try { await api('POST', '/api/devices/revoke', { device_id: d.device_id }); toast('Device revoked.'); } catch (ex) { showError(ex); }
        refresh();
      }, { class: 'danger', 'aria-label': `Revoke device ${d.device_id}` }))));
  };
  const node = el('section', {}, el('h1', {}, 'Devices'), list, approve);
  return { title: 'Devices', node, update };
}

// ── recovery: guardians, and approving a friend's recovery ──

function recoveryScreen() {
  const guardians = field('Guardians', { required: true, autocapitalize: 'none', spellcheck: 'false', placeholder: 'bob, carol, dave' }, 'Usernames of people you trust, separated by commas or spaces.');
  const threshold = field('How many must approve', { type: 'number', min: 1, value: '2', required: true });
  const gErr = formError();
  const gForm = el('form', {
    class: 'card', 'aria-label': 'Choose guardians',
    onsubmit: async (e) => {
      e.preventDefault();
      gErr.hidden = true;
      const users = splitNames(guardians.input.value);
      const n = Number(threshold.input.value);
      if (!(n >= 1 && n <= users.length)) return showError('The number who must approve is between 1 and the number of guardians.', gErr);
      try { await api('POST', '/api/guardians', { guardians: users, threshold: n }); toast(`Guardians saved: any ${n} of ${users.length} can help you recover.`); } catch (ex) { showError(ex, gErr); }
      return null;
    },
  }, el('h2', {}, 'Choose guardians'),
  el('p', {}, 'If you lose your recovery phrase and every device, enough of these people together can give your account back. None of them alone can.'),
  guardians.wrap, threshold.wrap, gErr, el('button', { type: 'submit', class: 'primary' }, 'Save guardians'));

  const owner = field('Their username', { required: true, autocapitalize: 'none', spellcheck: 'false' });
  const code = field('Code their new device shows', { required: true, autocomplete: 'off', spellcheck: 'false' });
  const aErr = formError();
  const aForm = el('form', {
    class: 'card', 'aria-label': 'Approve a friend’s recovery',
    onsubmit: async (e) => {
      e.preventDefault();
      aErr.hidden = true;
      try { await api('POST', '/api/guardians/approve', { owner: owner.input.value.trim().replace(/^@/, ''), code: code.input.value.trim() }); toast('Recovery approved.'); code.input.value = ''; } catch (ex) { showError(ex, aErr); }
    },
  }, el('h2', {}, 'Approve a friend’s recovery'),
  el('p', {}, 'Only after talking with them (in person or by a call where you recognise them): someone else could be asking in their name.'),
  owner.wrap, code.wrap, aErr, el('button', { type: 'submit', class: 'primary' }, 'Approve recovery'));
  return { title: 'Recovery', node: el('section', {}, el('h1', {}, 'Recovery'), gForm, aForm) };
}

// ── settings: the account, and the passphrase ──

function settingsScreen() {
  const info = el('dl', { class: 'facts' });
  const old = field('Current passphrase', { type: 'password', required: true, autocomplete: 'current-password' });
  const neu = field('New passphrase', { type: 'password', required: true, autocomplete: 'new-password' });
  const again = field('New passphrase again', { type: 'password', required: true, autocomplete: 'new-password' });
  const err = formError();
  const form = el('form', {
    class: 'card', 'aria-label': 'Change passphrase',
    onsubmit: async (e) => {
      e.preventDefault();
      err.hidden = true;
      if (neu.input.value !== again.input.value) return showError('The two new passphrases are not the same.', err);
      try {
        await api('POST', '/api/passphrase', { old: old.input.value, new: neu.input.value });
        old.input.value = ''; neu.input.value = ''; again.input.value = '';
        toast('Passphrase changed.');
      } catch (ex) { showError(ex, err); }
      return null;
    },
  }, el('h2', {}, 'Change passphrase'), old.wrap, neu.wrap, again.wrap, err, el('button', { type: 'submit', class: 'primary' }, 'Change passphrase'));
  const update = async () => {
    const s = await loadStatus();
    const rows = [['Username', s.username], ['This device', s.device_id], ['Server', s.server], ['Identity fingerprint', s.fingerprint], ['Home folder', s.home]];
    clear(info, rows.filter(([, v]) => v).map(([k, v]) => [el('dt', {}, k), el('dd', {}, el('code', {}, v))]));
  };
  return { title: 'Settings', node: el('section', {}, el('h1', {}, 'Settings'), info, form), update };
}

// ───────────────────────────── 5. boot ─────────────────────────────

async function boot() {
  $('.skip').addEventListener('click', (e) => { e.preventDefault(); $('#main').focus(); });
  $('#sidebar').addEventListener('click', (e) => {
    if (e.target.closest('a')) { document.body.classList.remove('menu-open'); $('#menu-toggle').setAttribute('aria-expanded', 'false'); }
  });
  $('#menu-toggle').addEventListener('click', () => {
    const open = document.body.classList.toggle('menu-open');
    $('#menu-toggle').setAttribute('aria-expanded', String(open));
  });
  // The row menus (<details>): one open at a time, closed by Escape, a click outside or an action.
  document.addEventListener('click', (e) => {
    document.querySelectorAll('details.menu[open]').forEach((d) => {
      if (!d.contains(e.target) || (e.target.closest('button') && d.querySelector('.menu-items').contains(e.target))) d.open = false;
    });
  });
  document.addEventListener('keydown', (e) => {
    const openMenu = e.key === 'Escape' && document.activeElement && document.activeElement.closest('details.menu[open]');
    if (openMenu) { openMenu.open = false; $('summary', openMenu).focus(); return; }
    if (e.key === 'Escape' && document.body.classList.contains('menu-open')) {
      document.body.classList.remove('menu-open');
      $('#menu-toggle').setAttribute('aria-expanded', 'false');
      $('#menu-toggle').focus();
    }
  });
  try { await loadStatus(); } catch (e) {
    if (e.kind !== 'session') clear($('#main'), el('h1', {}, 'hush ui is not answering'), el('p', {}, e.message));
    return;
  }
  openEvents();
  window.addEventListener('hashchange', route);
  route();
  refresh();
}

document.addEventListener('DOMContentLoaded', boot);
