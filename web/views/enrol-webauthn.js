// Enrolment of a security key (WebAuthn): a name for it, then the browser asks the person to
// touch the key. Every enrolment view exports enrol(container, {me, onConfirmed, onCancel}).

import { post } from '../lib/api.js';
import { errorBox, field, h, onSubmit } from '../lib/dom.js';
import { createCredential, webauthnSupported } from '../lib/webauthn.js';

export async function enrol(container, { onConfirmed, onCancel }) {
  const errors = errorBox();
  const label = field(
    'Name for this key',
    { type: 'text', name: 'label', maxlength: 64, value: 'Security key', autocomplete: 'off', 'data-testid': 'webauthn-label' },
    'So you can tell your keys apart, e.g. “Blue YubiKey”.',
  );
  const cancel = h('button', { type: 'button', class: 'secondary', 'data-testid': 'webauthn-cancel' }, 'Cancel');
  cancel.addEventListener('click', () => onCancel());
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'webauthn-register' }, 'Register security key');
  const form = h('form', { class: 'stack', 'data-testid': 'webauthn-form' }, label.wrap, errors.el, h('div', { class: 'actions' }, cancel, submit));
  const status = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite', 'data-testid': 'webauthn-status' });

  onSubmit(form, errors, async () => {
    const options = await post('/methods/webauthn/options', {});
    status.textContent = 'Insert your security key and touch it when it blinks.';
    try {
      const credential = await createCredential(options);
      status.textContent = 'Checking…';
      const result = await post('/methods/webauthn', { credential, label: label.input.value.trim() });
      onConfirmed(result.recovery_codes || []);
    } finally {
      status.textContent = '';
    }
  });

  const supported = webauthnSupported();
  if (!supported) {
    submit.disabled = true;
    submit.dataset.keepDisabled = '1';
  }
  container.replaceChildren(
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'webauthn-title', 'data-testid': 'webauthn-setup' },
      h('h2', { id: 'webauthn-title', tabindex: '-1' }, 'Add a security key'),
      h('p', {}, 'A YubiKey or any FIDO2 security key, or a passkey stored on this device. When you sign in, you touch the key instead of typing a code.'),
      supported
        ? null
        : h('p', { class: 'notice warning', 'data-testid': 'webauthn-unsupported' }, 'This browser cannot use security keys.'),
      form,
      status,
    ),
  );
  container.querySelector('h2').focus();
}
