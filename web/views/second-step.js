// The second sign-in step: an approval request when another device can approve (the
// default once 2FA is on and the user is signed in elsewhere, or when the default method is
// the twostep-auth companion), else the default method; any other registered method on
// request, or a recovery code.

import { ApiError, get, post } from '../lib/api.js';
import { errorBox, field, h, oneTimeCodeAttrs, onSubmit, setTitle } from '../lib/dom.js';
import { METHOD_TYPES, isAvailable, typeName } from '../lib/methods.js';
import { navigate } from '../lib/router.js';
import { showNav } from '../lib/session.js';
import { getAssertion, webauthnSupported } from '../lib/webauthn.js';
import { drawSmsStep } from './second-step-sms.js';
import { afterSignIn } from '../lib/return-to.js';

// How long one status request waits for an answer (the server allows up to 25 s).
const APPROVAL_WAIT_S = 20;

// state: {methods:[{id,type,label}], default:id, approval:{available,preferred,devices,sessions}}
export function renderSecondStep(root, state) {
  setTitle('Two-step verification');
  const listed = [...(state.methods || [])];
  // Default method first, the others in the server's order.
  listed.sort((a, b) => (b.id === state.default) - (a.id === state.default));
  // Methods of a type the operator switched off (e.g. SMS) are not offered: the default
  // becomes the next usable method, or a recovery code; a notice says why.
  const methods = listed.filter(isAvailable);
  const offTypes = [...new Set(listed.filter((m) => !isAvailable(m)).map((m) => typeName(m.type)))];
  const approval = state.approval || { available: false, preferred: false };
  const pushMethod = methods.find((m) => m.type === 'push') || null;
  let mode = methods.length ? { kind: 'method', method: methods[0] } : { kind: 'recovery' };
  if (approval.available && (approval.preferred || methods[0]?.type === 'push')) {
    mode = { kind: 'approval', method: methods[0]?.type === 'push' ? methods[0] : null };
  }
  // Each approval request runs until the panel changes: a newer run ends the older one.
  let approvalRun = 0;
  let countdown = null;

  const panel = h('div', { class: 'step-panel', 'data-testid': 'second-step-panel' });
  const otherList = h('ul', { class: 'method-choices', id: 'other-methods', 'data-testid': 'method-list', hidden: true });
  const otherToggle = h(
    'button',
    {
      type: 'button',
      class: 'link-button',
      'aria-expanded': 'false',
      'aria-controls': 'other-methods',
      'data-testid': 'use-another-method',
    },
    'Use another method',
  );
  const recoveryButton = h(
    'button',
    { type: 'button', class: 'link-button', 'data-testid': 'use-recovery-code' },
    'Use a recovery code',
  );
  const startOver = h(
    'button',
    { type: 'button', class: 'link-button', 'data-testid': 'start-over' },
    'Cancel and sign in again',
  );

  function setOtherOpen(open) {
    otherList.hidden = !open;
    otherToggle.setAttribute('aria-expanded', String(open));
  }

  function choose(next) {
    mode = next;
    setOtherOpen(false);
    drawPanel();
    const input = panel.querySelector('input') || panel.querySelector('[data-testid=use-security-key]');
    (input || panel.querySelector('h2')).focus();
  }

  function drawOtherList() {
    const approvalChoice = approval.available
      ? h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              class: 'choice-button',
              'data-testid': 'choose-approval',
              onclick: () => choose({ kind: 'approval', method: pushMethod }),
            },
            h('span', { class: 'choice-title' }, 'Approve on another device'),
            h('span', { class: 'choice-sub' }, approvalWhere()),
          ),
        )
      : null;
    otherList.replaceChildren(
      ...(approvalChoice ? [approvalChoice] : []),
      ...methods.map((m) =>
        h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              class: 'choice-button',
              'data-testid': 'choose-method',
              'data-method-id': m.id,
              'data-method-type': m.type,
              onclick: () => choose({ kind: 'method', method: m }),
            },
            h('span', { class: 'choice-title' }, m.label || typeName(m.type)),
            h(
              'span',
              { class: 'choice-sub' },
              [
                m.label && m.label !== typeName(m.type) ? typeName(m.type) : null,
                m.type === 'push' ? 'enter a code' : null,
                m.id === state.default ? 'default' : null,
              ]
                .filter(Boolean)
                .join(' · '),
            ),
          ),
        ),
      ),
    );
  }

  // Too many wrong answers or the 5 minutes ran out: the pending sign-in is gone.
  async function signInEnded(err) {
    if (!(err instanceof ApiError && err.status === 401 && err.code === 'not_authenticated')) return false;
    const { renderLoginForm } = await import('./auth.js');
    renderLoginForm(root, { error: err.message || 'Your sign-in expired. Please sign in again.' });
    return true;
  }

  // "Use your security key": the browser asks for a touch of any registered key.
  function securityKeyForm() {
    const errors = errorBox();
    const status = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite', 'data-testid': 'security-key-status' });
    const form = h(
      'form',
      { class: 'stack', 'data-testid': 'security-key-form' },
      errors.el,
      h('button', { type: 'submit', class: 'primary wide', 'data-testid': 'use-security-key' }, 'Use your security key'),
      status,
    );
    onSubmit(form, errors, async () => {
      try {
        const options = await post('/login/webauthn/options', {});
        status.textContent = 'Insert your security key and touch it when it blinks.';
        const credential = await getAssertion(options);
        status.textContent = 'Checking…';
        await finish(await post('/login/webauthn', { credential }));
      } catch (err) {
        status.textContent = '';
        if (await signInEnded(err)) return;
        throw err;
      }
    });
    return form;
  }

  function codeForm({ label, inputAttrs, hint, body }) {
    const errors = errorBox();
    const code = field(label, { required: true, spellcheck: 'false', autocapitalize: 'none', ...inputAttrs }, hint);
    const form = h(
      'form',
      { class: 'stack', 'data-testid': 'second-step-form' },
      code.wrap,
      errors.el,
      h('button', { type: 'submit', class: 'primary wide', 'data-testid': 'verify' }, 'Verify'),
    );
    onSubmit(form, errors, async () => {
      try {
        const result = await post('/login/second-factor', body(code.input.value));
        await finish(result);
      } catch (err) {
        if (await signInEnded(err)) return;
        code.input.select();
        throw err;
      }
    });
    return form;
  }

  function approvalWhere() {
    const places = [];
    if (approval.devices > 0) places.push('twostep-auth');
    if (approval.sessions > 0) places.push('a browser or app where you are signed in');
    return places.join(' or ') || 'a signed-in device';
  }

  function stopApproval() {
    approvalRun += 1;
    if (countdown) clearInterval(countdown);
    countdown = null;
  }

  async function backToLogin(message) {
    stopApproval();
    const { renderLoginForm } = await import('./auth.js');
    renderLoginForm(root, { error: message });
  }

  // Asks for an approval, shows its number, and follows the answer by long polling.
  async function runApproval() {
    stopApproval();
    const run = approvalRun;
    const current = () => run === approvalRun && mode.kind === 'approval';
    const number = h('p', { class: 'approval-number', 'data-testid': 'approval-number', 'aria-live': 'polite' }, '…');
    const statusLine = h('p', { role: 'status', 'data-testid': 'approval-status', 'data-state': 'sending' }, 'Sending the request…');
    const retry = h(
      'button',
      { type: 'button', class: 'secondary', 'data-testid': 'approval-retry', hidden: true, onclick: () => runApproval() },
      'Send a new request',
    );
    const setStatus = (stateName, text) => {
      statusLine.dataset.state = stateName;
      statusLine.textContent = text;
    };
    panel.replaceChildren(
      h('h2', { tabindex: '-1', 'data-testid': 'current-method' }, 'Approve this sign-in'),
      h('p', {}, `Open ${approvalWhere()}, and choose this number there:`),
      number,
      statusLine,
      h('div', { class: 'actions start' }, retry),
    );
    let request;
    try {
      request = await post('/login/approval', mode.method ? { method_id: mode.method.id } : {});
    } catch (err) {
      if (!current()) return;
      if (err instanceof ApiError && err.status === 401) {
        await backToLogin(err.message || 'Your sign-in expired. Please sign in again.');
        return;
      }
      number.textContent = '—';
      setStatus('error', `${err.message} Use another method below.`);
      return;
    }
    if (!current()) return;
    number.textContent = String(request.number);
    number.dataset.number = String(request.number);
    number.setAttribute('aria-label', `The number to choose: ${request.number}`);
    const tick = () => {
      const left = Math.max(0, Math.round(request.expires_at - Date.now() / 1000));
      setStatus('pending', `Waiting for your answer… (${left} s left)`);
    };
    tick();
    countdown = setInterval(tick, 1000);
    for (;;) {
      let result;
      try {
        result = await get(`/login/approval/${encodeURIComponent(request.id)}?wait=${APPROVAL_WAIT_S}`);
      } catch (err) {
        if (!current()) return;
        if (err instanceof ApiError && err.status === 401) {
          await backToLogin(err.message || 'Your sign-in expired. Please sign in again.');
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 2000));  // network trouble: try again
        continue;
      }
      if (!current()) return;
      if (result.state === 'approved') {
        stopApproval();
        setStatus('approved', 'Approved. Signing you in…');
        await finish(result);
        return;
      }
      if (result.state === 'denied') {
        await backToLogin('This sign-in was rejected on your other device. If that was a mistake, sign in again.');
        return;
      }
      if (result.state === 'expired') {
        stopApproval();
        setStatus('expired', 'Nobody answered in time. Send a new request, or use another method.');
        retry.hidden = false;
        retry.focus();
        return;
      }
    }
  }

  function drawPanel() {
    stopApproval();
    if (mode.kind === 'approval') {
      recoveryButton.hidden = false;
      runApproval();
      return;
    }
    if (mode.kind === 'recovery') {
      panel.replaceChildren(
        h('h2', { tabindex: '-1' }, 'Use a recovery code'),
        h('p', {}, 'Enter one of the recovery codes you saved when you turned on two-step verification. Each code works once.'),
        codeForm({
          label: 'Recovery code',
          inputAttrs: {
            type: 'text',
            name: 'recovery',
            autocomplete: 'off',
            inputmode: 'text',
            placeholder: 'xxxx-xxxx-xxxx-xxxx',
            'data-testid': 'recovery-input',
          },
          body: (value) => ({ type: 'recovery', code: value.trim().replace(/\s+/g, '') }),
        }),
      );
      recoveryButton.hidden = true;
      return;
    }
    recoveryButton.hidden = false;
    const m = mode.method;
    const info = METHOD_TYPES[m.type] || {};
    const heading = h('h2', { tabindex: '-1', 'data-testid': 'current-method' }, m.label || typeName(m.type));
    // Code methods, and the companion's offline codes (its approval is a mode of its own).
    if (info.signIn === 'code' || info.signIn === 'approval') {
      panel.replaceChildren(
        heading,
        h('p', {}, info.codePrompt || 'Enter the code.'),
        codeForm({
          label: 'Code',
          inputAttrs: { ...oneTimeCodeAttrs('code-input'), ...(info.codeInput || {}), 'data-testid': 'code-input' },
          body: (value) => ({ type: info.codeType || m.type, code: value.replace(/\s+/g, ''), method_id: m.id }),
        }),
      );
    } else if (info.signIn === 'sms') {
      drawSmsStep(panel, { method: m, heading, codeForm });
    } else if (info.signIn === 'webauthn' && webauthnSupported()) {
      panel.replaceChildren(
        heading,
        h('p', {}, 'Use the security key you registered: the browser will ask you to touch it.'),
        securityKeyForm(),
      );
    } else {
      panel.replaceChildren(
        heading,
        h(
          'p',
          { class: 'notice warning', 'data-testid': 'method-unavailable' },
          `Signing in with ${typeName(m.type)} is not available in this browser yet. Use another method or a recovery code.`,
        ),
      );
    }
  }

  async function finish(result) {
    showNav(true);
    if (typeof result.recovery_codes_remaining === 'number') {
      showRemaining(result.recovery_codes_remaining);
      return;
    }
    await afterSignIn(navigate);
  }

  function showRemaining(count) {
    setTitle('Signed in');
    const low = count <= 3;
    const cont = h(
      'button',
      { type: 'button', class: 'primary wide', 'data-testid': 'continue', onclick: () => afterSignIn(navigate) },
      'Continue',
    );
    root.replaceChildren(
      h(
        'section',
        { class: 'card narrow', 'data-testid': 'recovery-used' },
        h('h1', { tabindex: '-1' }, 'You’re signed in'),
        h(
          'p',
          { role: 'status', 'data-testid': 'recovery-remaining', 'data-count': count },
          'You have ',
          h('strong', {}, String(count)),
          count === 1 ? ' recovery code left.' : ' recovery codes left.',
        ),
        low
          ? h(
              'p',
              { class: 'notice warning' },
              'You are running out of recovery codes. ',
              h('a', { href: '/security', 'data-link': true }, 'Create new ones'),
              ' on the security page.',
            )
          : null,
        cont,
      ),
    );
    cont.focus();
  }

  otherToggle.addEventListener('click', () => setOtherOpen(otherList.hidden));
  recoveryButton.addEventListener('click', () => choose({ kind: 'recovery' }));
  startOver.addEventListener('click', async () => {
    stopApproval();
    await post('/logout').catch(() => null);
    const { renderLoginForm } = await import('./auth.js');
    renderLoginForm(root);
    root.querySelector('input')?.focus();
  });

  const offNotice = offTypes.length
    ? h(
        'p',
        { class: 'notice warning', 'data-testid': 'methods-turned-off' },
        `${offTypes.join(' and ')} ${offTypes.length > 1 ? 'are' : 'is'} turned off on this server. `,
        methods.length || approval.available ? 'Use another method or a recovery code.' : 'Use a recovery code.',
      )
    : null;

  drawOtherList();
  drawPanel();
  root.replaceChildren(
    h(
      'section',
      { class: 'card narrow', 'data-testid': 'second-step' },
      h('h1', { tabindex: '-1' }, 'Two-step verification'),
      offNotice,
      panel,
      h(
        'div',
        { class: 'alternatives' },
        methods.length || approval.available ? otherToggle : null,
        otherList,
        recoveryButton,
        startOver,
      ),
    ),
  );
  const input = panel.querySelector('input') || panel.querySelector('[data-testid=use-security-key]');
  if (input) {
    input.setAttribute('autofocus', '');
    if (root.isConnected) input.focus();
  }
}
