// The last step of enrolling a code-making method (an authenticator app, twostep-auth): a
// first code confirms the method and brings the recovery codes. Test ids are
// `${prefix}-code`, `${prefix}-cancel`, `${prefix}-confirm-form` and `${prefix}-confirm`.

import { post } from './api.js';
import { errorBox, field, h, oneTimeCodeAttrs, onSubmit } from './dom.js';

export function confirmCodeForm({ methodId, label, hint, prefix, onConfirmed, onCancel }) {
  const errors = errorBox();
  const code = field(label, { ...oneTimeCodeAttrs(`${prefix}-code`), required: true }, hint);
  const cancel = h('button', { type: 'button', class: 'secondary', 'data-testid': `${prefix}-cancel` }, 'Cancel');
  cancel.addEventListener('click', () => onCancel());
  const form = h(
    'form',
    { class: 'stack', 'data-testid': `${prefix}-confirm-form` },
    code.wrap,
    errors.el,
    h(
      'div',
      { class: 'actions' },
      cancel,
      h('button', { type: 'submit', class: 'primary', 'data-testid': `${prefix}-confirm` }, 'Turn on'),
    ),
  );
  onSubmit(form, errors, async () => {
    const result = await post(`/methods/${encodeURIComponent(methodId)}/confirm`, {
      code: code.input.value.replace(/\s+/g, ''),
    });
    onConfirmed(result.recovery_codes || []);
  });
  return form;
}
