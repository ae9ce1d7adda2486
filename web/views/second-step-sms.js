// The second sign-in step for an SMS method: "Send a code by SMS", then the code.

import { ApiError, post } from '../lib/api.js';
import { errorBox, h, oneTimeCodeAttrs } from '../lib/dom.js';
import { cooldownButton } from './sms-common.js';

// Fills `panel`. codeForm({label, inputAttrs, hint, body}) is the second step's code form.
export function drawSmsStep(panel, { method, heading, codeForm }) {
  const errors = errorBox('sms-send-error');
  const status = h('p', { role: 'status', 'aria-live': 'polite', 'data-testid': 'sms-status' },
    `We can send a 6-digit code to ${method.label || 'your phone'}.`);
  let resend = null;

  async function send() {
    errors.clear();
    try {
      const sent = await post('/login/sms', { method_id: method.id });
      status.replaceChildren('We sent a code to ', h('strong', {}, sent.phone), '.');
      if (!resend) showCodeForm(sent.resend_after);
      else resend.restart(sent.resend_after);
      panel.querySelector('input')?.focus();
    } catch (err) {
      errors.show(err.message);
      if (err instanceof ApiError && err.code === 'sms_disabled') {
        // The operator turned SMS off meanwhile: no use asking again; the message says what to use.
        sendButton.hidden = true;
        if (resend) resend.button.hidden = true;
        return;
      }
      if (resend && err instanceof ApiError && err.retryAfter) resend.restart(err.retryAfter);
      if (err instanceof ApiError && err.status === 401 && err.code === 'not_authenticated') {
        const { renderLoginForm } = await import('./auth.js');
        renderLoginForm(panel.closest('.view') || panel, { error: err.message });
      }
    }
  }

  const sendButton = h('button', { type: 'button', class: 'primary wide', 'data-testid': 'sms-send-code' }, 'Send a code by SMS');
  sendButton.addEventListener('click', async () => {
    sendButton.disabled = true;
    await send();
    sendButton.disabled = false;
  });

  function showCodeForm(cooldown) {
    resend = cooldownButton('Send a new code', cooldown, { 'data-testid': 'sms-resend' });
    resend.button.addEventListener('click', send);
    const form = codeForm({
      label: 'Code from the text message',
      inputAttrs: oneTimeCodeAttrs('code-input'),
      body: (value) => ({ type: 'sms', code: value.replace(/\s+/g, ''), method_id: method.id }),
    });
    panel.replaceChildren(heading, status, form, errors.el, h('div', { class: 'actions start' }, resend.button));
  }

  panel.replaceChildren(heading, status, errors.el, sendButton);
}
