// Modal dialogs on the native <dialog> element (focus trap, Escape to cancel):
// a confirmation and the re-authentication that sensitive actions need.

import { ApiError, post } from './api.js';
import { h, field, errorBox, onSubmit } from './dom.js';
import { getAssertion, webauthnSupported } from './webauthn.js';

export const CANCELLED = Symbol('cancelled');

function openDialog(dialog) {
  document.body.append(dialog);
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const value = dialog.returnValue;
      dialog.remove();
      resolve(value);
    });
  });
}

// Resolves true when the person confirms. `extra`: elements shown under the text (e.g. a
// checkbox the caller reads once it resolves).
export async function confirmDialog({ title, text, extra = null, confirmLabel = 'Confirm', danger = false }) {
  const titleId = 'confirm-title';
  const dialog = h(
    'dialog',
    { class: 'dialog', 'aria-labelledby': titleId, 'data-testid': 'confirm-dialog' },
    h(
      'form',
      { method: 'dialog' },
      h('h2', { id: titleId }, title),
      text ? h('p', {}, text) : null,
      extra,
      h(
        'div',
        { class: 'actions' },
        h('button', { value: 'cancel', class: 'secondary', 'data-testid': 'confirm-cancel' }, 'Cancel'),
        h(
          'button',
          { value: 'ok', class: danger ? 'danger' : 'primary', 'data-testid': 'confirm-ok' },
          confirmLabel,
        ),
      ),
    ),
  );
  return (await openDialog(dialog)) === 'ok';
}

// Asks for the password (and a second-factor code when 2FA is on), then POSTs
// /api/v1/reauth. Resolves true once the server accepted it, false when cancelled.
// `types`: the person's method types, when known: only those are offered (recovery codes
// always), the first one chosen; without it every kind is offered. An SMS code is sent on
// request.
export function reauthDialog({ twofa, types = null }) {
  const titleId = 'reauth-title';
  const errors = errorBox('reauth-error');
  const password = field('Password', {
    type: 'password',
    name: 'password',
    autocomplete: 'current-password',
    required: true,
    'data-testid': 'reauth-password',
  });

  const RADIOS = {
    totp: 'Authenticator app code',
    sms: 'Code by SMS',
    webauthn: 'Security key',
    yubiotp: 'YubiKey one-time password',
    recovery: 'Recovery code',
  };
  const LABELS = {
    totp: 'Code from your authenticator app',
    sms: 'Code from the text message',
    yubiotp: 'One-time password from your YubiKey',
    recovery: 'Recovery code',
  };
  const has = (t) => !types || types.includes(t);
  const offered = [
    has('totp') || has('push') ? 'totp' : null,
    has('sms') ? 'sms' : null,
    has('webauthn') && webauthnSupported() ? 'webauthn' : null,
    has('yubiotp') ? 'yubiotp' : null,
    'recovery',
  ].filter(Boolean);
  let codeType = offered[0];
  let code = null;
  let typeChooser = null;
  let smsRow = null;
  if (twofa) {
    code = field(
      LABELS[codeType],
      {
        type: 'text',
        name: 'code',
        autocomplete: 'one-time-code',
        inputmode: 'numeric',
        required: true,
        spellcheck: 'false',
        'data-testid': 'reauth-code',
      },
    );
    const label = code.wrap.querySelector('label');
    const smsStatus = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite', 'data-testid': 'reauth-sms-status' });
    const smsSend = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'reauth-sms-send' }, 'Send a code by SMS');
    smsSend.addEventListener('click', async () => {
      smsSend.disabled = true;
      try {
        const sent = await post('/reauth/sms', {});
        smsStatus.textContent = `Code sent to ${sent.phone}.`;
        code.input.focus();
      } catch (err) {
        smsStatus.textContent = err.message;
      } finally {
        smsSend.disabled = false;
      }
    });
    smsRow = h('div', { class: 'actions start', hidden: codeType !== 'sms' }, smsSend, smsStatus);
    const setType = (type) => {
      codeType = type;
      // A security key answers instead of a typed code.
      code.wrap.hidden = type === 'webauthn';
      code.input.required = type !== 'webauthn';
      smsRow.hidden = type !== 'sms';
      const recovery = type === 'recovery';
      const text = recovery || type === 'yubiotp';
      label.textContent = LABELS[type] || LABELS.totp;
      code.input.setAttribute('inputmode', text ? 'text' : 'numeric');
      code.input.setAttribute('autocomplete', text ? 'off' : 'one-time-code');
      code.input.placeholder = recovery ? 'xxxx-xxxx-xxxx-xxxx' : '';
    };
    const radio = (value, text, checked) => {
      const id = `reauth-type-${value}`;
      return h(
        'div',
        { class: 'check' },
        h('input', {
          type: 'radio',
          name: 'reauth-type',
          id,
          value,
          checked,
          'data-testid': id,
          onchange: () => setType(value),
        }),
        h('label', { for: id }, text),
      );
    };
    typeChooser = h(
      'fieldset',
      { class: 'choice' },
      h('legend', {}, 'Second step'),
      ...offered.map((t) => radio(t, RADIOS[t], t === codeType)),
    );
    setType(codeType);
  }

  const cancel = h(
    'button',
    { type: 'button', class: 'secondary', 'data-testid': 'reauth-cancel' },
    'Cancel',
  );
  const form = h(
    'form',
    { novalidate: false },
    h('h2', { id: titleId }, 'Confirm it’s you'),
    h(
      'p',
      {},
      twofa
        ? 'For your security, enter your password and a code to continue.'
        : 'For your security, enter your password to continue.',
    ),
    password.wrap,
    typeChooser,
    smsRow,
    code ? code.wrap : null,
    errors.el,
    h(
      'div',
      { class: 'actions' },
      cancel,
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'reauth-submit' }, 'Continue'),
    ),
  );
  const dialog = h(
    'dialog',
    { class: 'dialog', 'aria-labelledby': titleId, 'data-testid': 'reauth-dialog' },
    form,
  );
  cancel.addEventListener('click', () => dialog.close('cancel'));
  onSubmit(form, errors, async () => {
    const body = { password: password.input.value };
    if (twofa && codeType === 'webauthn') {
      const options = await post('/reauth/webauthn/options', {});
      await post('/reauth/webauthn', { ...body, credential: await getAssertion(options) });
      dialog.close('ok');
      return;
    }
    if (twofa) {
      body.type = codeType;
      body.code = code.input.value.trim();
    }
    await post('/reauth', body);
    dialog.close('ok');
  });
  return openDialog(dialog).then((value) => value === 'ok');
}

// Runs `action`; when the server answers 403 reauth_required, asks the person to
// re-authenticate and runs it once more. Resolves to the action's result or CANCELLED.
export async function withReauth(action, opts) {
  try {
    return await action();
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 'reauth_required')) throw err;
    const ok = await reauthDialog(opts);
    if (!ok) return CANCELLED;
    return action();
  }
}
