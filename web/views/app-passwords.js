// The "App passwords" card of the security page: passwords for mail, calendar and file apps
// that cannot answer a second step. Create (name + scopes; shown once, with a copy button),
// list with last use, revoke. Creating one needs a recent re-authentication.

import { del, get, post } from '../lib/api.js';
import { CANCELLED, confirmDialog, withReauth } from '../lib/dialogs.js';
import { errorBox, field, h, onSubmit, time, uid } from '../lib/dom.js';
import { redirectIfSignedOut } from '../lib/session.js';

const SCOPES = [
  { value: 'mail', label: 'Mail', hint: 'IMAP, POP3, sending mail' },
  { value: 'dav', label: 'Files, calendars and contacts', hint: 'WebDAV, CalDAV, CardDAV' },
  { value: 'all', label: 'Everything', hint: 'every app that signs in with a password' },
];

function scopeText(scopes) {
  return (scopes || [])
    .map((s) => (SCOPES.find((x) => x.value === s) || { label: s }).label)
    .join(', ');
}

// Copies text; falls back to selecting it where the Clipboard API is not allowed (plain http).
async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    input.focus();
    input.select();
    try {
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
}

// Returns the card element; it loads its list by itself. `reauth()`: the re-authentication
// dialog's options for the signed-in user (reauthOptions in lib/methods.js); its `twofa` also
// says whether the text explains that the main password no longer works for apps.
export function appPasswordsCard({ reauth }) {
  const { twofa } = reauth();
  const errors = errorBox('app-passwords-error');
  const status = h('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite', 'data-testid': 'app-passwords-status' });
  const list = h('ul', { class: 'list', 'data-testid': 'app-passwords' });
  const panel = h('div');
  const addButton = h(
    'button',
    { type: 'button', class: 'secondary', 'data-testid': 'add-app-password' },
    'Create an app password',
  );
  const card = h(
    'section',
    { class: 'card', 'aria-labelledby': 'app-passwords-title', 'data-testid': 'app-passwords-card' },
    h('h2', { id: 'app-passwords-title', tabindex: '-1' }, 'App passwords'),
    h(
      'p',
      {},
      'Mail, calendar and file apps (Thunderbird, phone mail, DAVx⁵, file sync) cannot ask for a second step. ',
      'Give each of them its own app password instead of your password. ',
      twofa
        ? 'With two-step verification on, your password no longer works in those apps.'
        : 'Once you turn on two-step verification, your password stops working in those apps.',
      ' An app password never opens this account page.',
    ),
    list,
    errors.el,
    status,
    panel,
    h('div', { class: 'actions start' }, addButton),
  );

  const run = async (fn) => {
    errors.clear();
    try {
      await fn();
    } catch (err) {
      if (!(await redirectIfSignedOut(err))) errors.show(err.message);
    }
  };

  async function load() {
    const { app_passwords: items = [] } = await get('/app-passwords');
    list.replaceChildren(
      ...(items.length
        ? items.map(item)
        : [h('li', { class: 'muted', 'data-testid': 'no-app-passwords' }, 'No app passwords yet.')]),
    );
  }

  function item(p) {
    const revoke = h(
      'button',
      {
        type: 'button',
        class: 'danger-outline small',
        'data-testid': 'revoke-app-password',
        'aria-label': `Revoke ${p.name}`,
      },
      'Revoke',
    );
    revoke.addEventListener('click', () =>
      run(async () => {
        const ok = await confirmDialog({
          title: `Revoke “${p.name}”?`,
          text: 'Apps using it are signed out at their next request and must be given a new one.',
          confirmLabel: 'Revoke',
          danger: true,
        });
        if (!ok) return;
        await del(`/app-passwords/${encodeURIComponent(p.id)}`);
        await load();
        status.textContent = `${p.name} was revoked.`;
        addButton.focus();
      }),
    );
    return h(
      'li',
      { class: 'item', 'data-testid': 'app-password', 'data-app-password-id': p.id },
      h(
        'div',
        { class: 'item-main' },
        h('p', { class: 'item-title' }, h('span', { 'data-testid': 'app-password-name' }, p.name)),
        h(
          'p',
          { class: 'item-meta' },
          h('span', { 'data-testid': 'app-password-scopes' }, scopeText(p.scopes)),
          ' · created ',
          time(p.created_at),
          ' · last used ',
          h('span', { 'data-testid': 'app-password-last-used' }, time(p.last_used_at, { relativeTime: true })),
          p.last_used_ip ? h('span', { 'data-testid': 'app-password-last-ip' }, ` from ${p.last_used_ip}`) : null,
        ),
      ),
      h('div', { class: 'item-actions' }, revoke),
    );
  }

  function showForm() {
    const formErrors = errorBox('app-password-form-error');
    const name = field(
      'Name',
      { type: 'text', name: 'name', maxlength: 64, required: true, autocomplete: 'off', 'data-testid': 'app-password-name-input' },
      'Which app or device it is for, e.g. “Thunderbird on the laptop”.',
    );
    const boxes = SCOPES.map((s) => {
      const id = uid('scope');
      const input = h('input', { type: 'checkbox', id, value: s.value, 'data-testid': `scope-${s.value}` });
      return {
        input,
        el: h('div', { class: 'check' }, input, h('label', { for: id }, `${s.label} `, h('span', { class: 'muted' }, `(${s.hint})`))),
      };
    });
    boxes[0].input.checked = true;
    const cancel = h('button', { type: 'button', class: 'secondary', 'data-testid': 'app-password-cancel' }, 'Cancel');
    const form = h(
      'form',
      { class: 'stack', 'data-testid': 'app-password-form' },
      name.wrap,
      h('fieldset', { class: 'choice' }, h('legend', {}, 'It may be used for'), ...boxes.map((b) => b.el)),
      formErrors.el,
      h(
        'div',
        { class: 'actions start' },
        h('button', { type: 'submit', class: 'primary', 'data-testid': 'app-password-create' }, 'Create'),
        cancel,
      ),
    );
    cancel.addEventListener('click', () => {
      panel.replaceChildren();
      addButton.hidden = false;
      addButton.focus();
    });
    onSubmit(form, formErrors, async () => {
      const scopes = boxes.filter((b) => b.input.checked).map((b) => b.input.value);
      if (!scopes.length) throw new Error('Choose at least one kind of app.');
      const result = await withReauth(() => post('/app-passwords', { name: name.input.value.trim(), scopes }), reauth());
      if (result === CANCELLED) return;
      showCreated(result);
      await load();
    });
    panel.replaceChildren(form);
    addButton.hidden = true;
    name.input.focus();
  }

  // The password is shown once: copy it now.
  function showCreated(result) {
    const id = uid('new-app-password');
    const value = h('input', {
      id,
      type: 'text',
      readonly: true,
      class: 'secret',
      value: result.password,
      size: result.password.length + 2,
      spellcheck: 'false',
      'data-testid': 'new-app-password',
    });
    const copyStatus = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite', 'data-testid': 'copy-status' });
    const copy = h('button', { type: 'button', class: 'secondary', 'data-testid': 'copy-app-password' }, 'Copy');
    copy.addEventListener('click', async () => {
      copyStatus.textContent = (await copyText(result.password, value))
        ? 'Copied to the clipboard.'
        : 'Copying is not allowed here: select the password and copy it.';
    });
    const done = h('button', { type: 'button', class: 'primary', 'data-testid': 'app-password-done' }, 'Done');
    done.addEventListener('click', () => {
      panel.replaceChildren();
      addButton.hidden = false;
      addButton.focus();
    });
    panel.replaceChildren(
      h(
        'div',
        { class: 'notice ok stack', 'data-testid': 'app-password-created' },
        h('h3', { tabindex: '-1' }, `App password for “${result.app_password.name}”`),
        h('p', {}, 'Enter it in the app instead of your password, with your username. It is shown only now.'),
        h('label', { for: id }, 'App password'),
        h('div', { class: 'actions start' }, value, copy),
        copyStatus,
        h('div', { class: 'actions start' }, done),
      ),
    );
    panel.querySelector('h3').focus();
  }

  addButton.addEventListener('click', () => {
    errors.clear();
    showForm();
  });
  run(load);
  return card;
}
