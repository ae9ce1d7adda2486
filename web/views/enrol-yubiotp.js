// Enrolment of a YubiKey by its one-time password: the key must have been imported by an
// administrator (`twostep yubikey import`); touching it types an OTP that binds it to you.

import { post } from '../lib/api.js';
import { errorBox, field, h, onSubmit } from '../lib/dom.js';

export async function enrol(container, { onConfirmed, onCancel }) {
  const errors = errorBox();
  const label = field(
    'Name for this key',
    { type: 'text', name: 'label', maxlength: 64, value: 'YubiKey', autocomplete: 'off', 'data-testid': 'yubiotp-label' },
  );
  const otp = field(
    'One-time password',
    {
      type: 'text',
      name: 'otp',
      autocomplete: 'off',
      autocapitalize: 'none',
      spellcheck: 'false',
      maxlength: 64,
      required: true,
      autofocus: true,
      'data-testid': 'yubiotp-otp',
    },
    'Touch the gold contact of your YubiKey while this field has the cursor: it types a 44-character code and presses Enter.',
  );
  const cancel = h('button', { type: 'button', class: 'secondary', 'data-testid': 'yubiotp-cancel' }, 'Cancel');
  cancel.addEventListener('click', () => onCancel());
  const form = h(
    'form',
    { class: 'stack', 'data-testid': 'yubiotp-form' },
    label.wrap,
    otp.wrap,
    errors.el,
    h('div', { class: 'actions' }, cancel, h('button', { type: 'submit', class: 'primary', 'data-testid': 'yubiotp-submit' }, 'Add YubiKey')),
  );
  onSubmit(form, errors, async () => {
    try {
      const result = await post('/methods/yubiotp', { otp: otp.input.value.trim(), label: label.input.value.trim() });
      onConfirmed(result.recovery_codes || []);
    } catch (err) {
      otp.input.value = '';
      otp.input.focus();
      throw err;
    }
  });

  container.replaceChildren(
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'yubiotp-title', 'data-testid': 'yubiotp-setup' },
      h('h2', { id: 'yubiotp-title', tabindex: '-1' }, 'Add a YubiKey (one-time password)'),
      h('p', {}, 'Your YubiKey types a new one-time password each time you touch it. Your administrator must have registered the key with this server first.'),
      form,
    ),
  );
  // The key types into whatever has focus: start in the OTP field (autofocus above).
  otp.input.focus();
}
