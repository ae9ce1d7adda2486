// Enrolment of a mobile number for codes by SMS: the number (with a country for national
// numbers), then the code that arrived. Every enrolment view exports
// enrol(container, {me, onConfirmed, onCancel}).

import { ApiError, get, post } from '../lib/api.js';
import { errorBox, field, h, oneTimeCodeAttrs, onSubmit, uid } from '../lib/dom.js';
import { cooldownButton } from './sms-common.js';

export async function enrol(container, { onConfirmed, onCancel }) {
  const { regions = [] } = await get('/methods/sms/regions');
  const names = regions.map((r) => r.name);
  const countries = names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names[0] || '';

  let sent = null; // {method_id, phone, expires_in, resend_after}
  let request = null; // the body that sent it, for "Send a new code"

  // --- step 1: the number ---------------------------------------------------------
  const numberErrors = errorBox('sms-number-error');
  const regionId = uid('sms-region');
  const region = h(
    'select',
    { id: regionId, name: 'region', 'data-testid': 'sms-region' },
    ...regions.map((r) => h('option', { value: r.code }, `${r.name} (+${r.calling_code})`)),
  );
  const phone = field(
    'Mobile number',
    {
      type: 'tel',
      name: 'phone',
      autocomplete: 'tel',
      inputmode: 'tel',
      maxlength: 32,
      required: true,
      spellcheck: 'false',
      placeholder: '079 123 45 67',
      'data-testid': 'sms-phone',
    },
    `A mobile number in ${countries}. Type it as you would at home, or with its country code (+41 …).`,
  );
  const cancel = h('button', { type: 'button', class: 'secondary', 'data-testid': 'sms-cancel' }, 'Cancel');
  cancel.addEventListener('click', () => onCancel());
  const numberForm = h(
    'form',
    { class: 'stack', 'data-testid': 'sms-number-form' },
    h('div', { class: 'field' }, h('label', { for: regionId }, 'Country'), region),
    phone.wrap,
    numberErrors.el,
    h(
      'div',
      { class: 'actions' },
      cancel,
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'sms-send' }, 'Send code'),
    ),
  );
  onSubmit(numberForm, numberErrors, async () => {
    request = { phone: phone.input.value.trim(), region: region.value };
    sent = await post('/methods/sms', request);
    drawCodeStep();
  });

  // --- step 2: the code ---------------------------------------------------------------
  function drawCodeStep() {
    const errors = errorBox('sms-code-error');
    const status = h('p', { role: 'status', 'aria-live': 'polite', 'data-testid': 'sms-sent' });
    const showSent = () => {
      status.replaceChildren('We sent a code to ', h('strong', {}, sent.phone), '. It is valid for ',
        `${Math.round(sent.expires_in / 60)} minutes.`);
    };
    showSent();
    const code = field(
      'Code from the text message',
      { ...oneTimeCodeAttrs('sms-code'), required: true },
      'The 6 digits in the message.',
    );
    const resend = cooldownButton('Send a new code', sent.resend_after, { 'data-testid': 'sms-resend' });
    resend.button.addEventListener('click', async () => {
      errors.clear();
      try {
        sent = await post('/methods/sms', request);
        showSent();
        resend.restart(sent.resend_after);
        code.input.focus();
      } catch (err) {
        errors.show(err.message);
        if (err instanceof ApiError && err.retryAfter) resend.restart(err.retryAfter);
      }
    });
    const other = h('button', { type: 'button', class: 'link-button', 'data-testid': 'sms-other-number' }, 'Use another number');
    other.addEventListener('click', () => {
      resend.stop();
      drawNumberStep();
    });
    const form = h(
      'form',
      { class: 'stack', 'data-testid': 'sms-confirm-form' },
      status,
      code.wrap,
      errors.el,
      h(
        'div',
        { class: 'actions' },
        resend.button,
        h('button', { type: 'submit', class: 'primary', 'data-testid': 'sms-confirm' }, 'Turn on'),
      ),
      h('p', {}, other),
    );
    onSubmit(form, errors, async () => {
      const result = await post(`/methods/${encodeURIComponent(sent.method_id)}/confirm`, {
        code: code.input.value.replace(/\s+/g, ''),
      });
      resend.stop();
      onConfirmed(result.recovery_codes || []);
    });
    card.replaceChildren(title, form);
    code.input.focus();
  }

  function drawNumberStep() {
    card.replaceChildren(title, h('p', {}, 'We send a 6-digit code to this number each time you sign in.'), numberForm);
    phone.input.focus();
  }

  const title = h('h2', { id: 'sms-title', tabindex: '-1' }, 'Set up codes by text message');
  const card = h('section', { class: 'card', 'aria-labelledby': 'sms-title', 'data-testid': 'sms-setup' });
  container.replaceChildren(card);
  drawNumberStep();
  title.focus();
}
