// The security page: turn two-step verification on or off, manage methods and
// recovery codes, and app passwords. Sensitive actions go through withReauth().

import { del, get, patch, post } from '../lib/api.js';
import { CANCELLED, confirmDialog, withReauth } from '../lib/dialogs.js';
import { errorBox, h, setTitle, time, uid } from '../lib/dom.js';
import { enrollableTypes, isAvailable, reauthOptions, typeName } from '../lib/methods.js';
import { enrollmentBanner } from '../lib/enrollment.js';
import { isRestricted, loadMe, redirectIfSignedOut, showNav } from '../lib/session.js';
import { flashBox } from './auth.js';
import { appPasswordsCard } from './app-passwords.js';
import { renderRecoveryCodes } from './recovery-codes.js';

export async function securityView(root) {
  let me = await loadMe();
  if (!me) return { redirect: '/login' };
  setTitle('Security');

  const body = h('div', { class: 'stack-lg' });
  // An organisation's requirement: a reminder during the grace period; after it, this page
  // is the only one the session opens until a first method is added.
  const notices = h('div', { class: 'stack' });
  function drawNotices() {
    showNav(true, { restricted: isRestricted(me) });
    if (isRestricted(me)) {
      const org = me.enrollment ? me.enrollment.org.name : 'Your organisation';
      notices.replaceChildren(
        h(
          'p',
          { class: 'notice warning', role: 'alert', 'data-testid': 'enrollment-required' },
          h('strong', {}, org),
          ' requires two-step verification. Add a method to continue: until then, this is the only page you can use.',
        ),
      );
    } else {
      notices.replaceChildren(...[enrollmentBanner(me, { withLink: false })].filter(Boolean));
    }
  }
  drawNotices();
  const announce = h('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite', 'data-testid': 'security-status' });
  root.append(
    h(
      'div',
      { class: 'page', 'data-testid': 'security-page' },
      h('h1', { tabindex: '-1' }, 'Security'),
      flashBox(),
      notices,
      announce,
      body,
    ),
  );

  const reauthOpts = () => reauthOptions(me);

  async function refresh(message) {
    me = (await loadMe()) || me;
    drawNotices();
    drawOverview();
    if (message) announce.textContent = message;
  }

  // --- overview ---------------------------------------------------------------
  function drawOverview() {
    const errors = errorBox('security-error');
    const run = async (fn) => {
      errors.clear();
      try {
        await fn();
      } catch (err) {
        if (!(await redirectIfSignedOut(err))) errors.show(err.message);
      }
    };

    if (!me.twofa_enabled) {
      body.replaceChildren(
        h(
          'section',
          { class: 'card', 'aria-labelledby': 'twofa-title', 'data-testid': 'twofa-off' },
          h('h2', { id: 'twofa-title' }, 'Two-step verification ', h('span', { class: 'badge off', 'data-testid': 'twofa-status', 'data-enabled': 'false' }, 'Off')),
          h(
            'p',
            {},
            'Add a second step to signing in: after your password, you confirm with something you have, ',
            'such as an authenticator app. A stolen password alone is then not enough.',
          ),
          h(
            'button',
            { type: 'button', class: 'primary', 'data-testid': 'enable-2fa', onclick: () => drawChooser() },
            'Turn on two-step verification',
          ),
        ),
        // A session restricted by an organisation's policy may only add a first method.
        ...(isRestricted(me) ? [] : [appPasswordsCard({ reauth: reauthOpts })]),
      );
      return;
    }

    const methods = [...(me.methods || [])].sort((a, b) => b.default - a.default);
    const list = h('ul', { class: 'list', 'data-testid': 'methods' }, ...methods.map((m) => methodItem(m, run)));
    body.replaceChildren(
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'twofa-title', 'data-testid': 'twofa-on' },
        h('h2', { id: 'twofa-title' }, 'Two-step verification ', h('span', { class: 'badge ok', 'data-testid': 'twofa-status', 'data-enabled': 'true' }, 'On')),
        h('p', {}, 'When you sign in, you confirm with your default method. You can pick another one at sign-in.'),
        list,
        errors.el,
        h(
          'div',
          { class: 'actions start' },
          h('button', { type: 'button', class: 'secondary', 'data-testid': 'add-method', onclick: () => drawChooser() }, 'Add a method'),
        ),
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'codes-card-title' },
        h('h2', { id: 'codes-card-title' }, 'Recovery codes'),
        h(
          'p',
          {},
          'You have ',
          h('strong', { 'data-testid': 'recovery-count' }, String(me.recovery_codes_remaining ?? 0)),
          ' unused recovery codes. New codes replace all the old ones.',
        ),
        (me.recovery_codes_remaining ?? 0) === 0
          ? h(
              'p',
              { class: 'notice warning', 'data-testid': 'no-recovery-codes' },
              'You have no recovery codes left: create new ones, so that you can still sign in if you lose your methods.',
            )
          : null,
        h(
          'div',
          { class: 'actions start' },
          h(
            'button',
            {
              type: 'button',
              class: 'secondary',
              'data-testid': 'new-recovery-codes',
              onclick: () => run(newRecoveryCodes),
            },
            'New recovery codes',
          ),
        ),
      ),
      h(
        'section',
        { class: 'card danger-zone', 'aria-labelledby': 'off-title' },
        h('h2', { id: 'off-title' }, 'Turn off two-step verification'),
        h('p', {}, 'Removes every method and recovery code. Your password alone will then open your account.'),
        h(
          'div',
          { class: 'actions start' },
          h(
            'button',
            { type: 'button', class: 'danger', 'data-testid': 'disable-2fa', onclick: () => run(disableTwofa) },
            'Turn off two-step verification',
          ),
        ),
      ),
      appPasswordsCard({ reauth: reauthOpts }),
    );
  }

  function methodItem(m, run) {
    const name = m.label || typeName(m.type);
    const title = h(
      'p',
      { class: 'item-title' },
      h('span', { 'data-testid': 'method-label' }, name),
      m.default ? h('span', { class: 'badge accent', 'data-testid': 'default-badge' }, 'Default') : null,
    );
    const actions = h('div', { class: 'item-actions' });
    const item = h(
      'li',
      {
        class: 'item',
        'data-testid': 'method',
        'data-method-id': m.id,
        'data-method-type': m.type,
        'data-default': m.default ? 'true' : 'false',
      },
      h(
        'div',
        { class: 'item-main' },
        title,
        h(
          'p',
          { class: 'item-meta' },
          h('span', { 'data-testid': 'method-type' }, typeName(m.type)),
          ' · added ',
          time(m.created_at),
          ' · last used ',
          time(m.last_used_at, { relativeTime: true }),
        ),
        isAvailable(m)
          ? null
          : h(
              'p',
              { class: 'notice warning', 'data-testid': 'method-unavailable' },
              `${typeName(m.type)} is turned off on this server: this method no longer signs you in. `,
              'Use another method or a recovery code, and remove this one.',
            ),
      ),
      actions,
    );
    if (!m.default && isAvailable(m)) {
      actions.append(
        h(
          'button',
          {
            type: 'button',
            class: 'secondary small',
            'data-testid': 'make-default',
            'aria-label': `Make ${name} the default`,
            onclick: () =>
              run(async () => {
                await post(`/methods/${encodeURIComponent(m.id)}/default`);
                await refresh(`${name} is now your default method.`);
              }),
          },
          'Make default',
        ),
      );
    }
    actions.append(
      h(
        'button',
        {
          type: 'button',
          class: 'secondary small',
          'data-testid': 'rename-method',
          'aria-label': `Rename ${name}`,
          onclick: () => startRename(m, item, run),
        },
        'Rename',
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'danger-outline small',
          'data-testid': 'remove-method',
          'aria-label': `Remove ${name}`,
          onclick: () => run(() => removeMethod(m)),
        },
        'Remove',
      ),
    );
    return item;
  }

  function startRename(m, item, run) {
    const name = m.label || typeName(m.type);
    const id = uid('rename');
    const input = h('input', { id, type: 'text', value: name, maxlength: 64, required: true, 'data-testid': 'rename-input' });
    const cancel = h('button', { type: 'button', class: 'secondary small' }, 'Cancel');
    const form = h(
      'form',
      { class: 'inline-form', 'data-testid': 'rename-form' },
      h('label', { for: id, class: 'visually-hidden' }, `New name for ${name}`),
      input,
      h('button', { type: 'submit', class: 'primary small', 'data-testid': 'rename-save' }, 'Save'),
      cancel,
    );
    const main = item.querySelector('.item-main');
    const title = main.querySelector('.item-title');
    const actions = item.querySelector('.item-actions');
    title.replaceWith(form);
    actions.hidden = true;
    cancel.addEventListener('click', () => {
      form.replaceWith(title);
      actions.hidden = false;
      item.querySelector('[data-testid=rename-method]').focus();
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      run(async () => {
        await patch(`/methods/${encodeURIComponent(m.id)}`, { label: input.value.trim() });
        await refresh('Renamed.');
      });
    });
    input.focus();
    input.select();
  }

  async function removeMethod(m) {
    const name = m.label || typeName(m.type);
    const last = (me.methods || []).length <= 1;
    const ok = await confirmDialog({
      title: `Remove ${name}?`,
      text: last
        ? 'It is your only method: two-step verification will be turned off and your recovery codes will stop working.'
        : 'You will no longer be able to sign in with it.',
      confirmLabel: 'Remove',
      danger: true,
    });
    if (!ok) return;
    const result = await withReauth(() => del(`/methods/${encodeURIComponent(m.id)}`), reauthOpts());
    if (result === CANCELLED) return;
    await refresh(`${name} was removed.`);
  }

  async function disableTwofa() {
    const ok = await confirmDialog({
      title: 'Turn off two-step verification?',
      text: 'Every method and recovery code will be removed. Your password alone will open your account.',
      confirmLabel: 'Turn off',
      danger: true,
    });
    if (!ok) return;
    const result = await withReauth(() => del('/twofa'), reauthOpts());
    if (result === CANCELLED) return;
    await refresh('Two-step verification is off.');
  }

  async function newRecoveryCodes() {
    const ok = await confirmDialog({
      title: 'Create new recovery codes?',
      text: 'Your current recovery codes will stop working.',
      confirmLabel: 'Create new codes',
    });
    if (!ok) return;
    const result = await withReauth(() => post('/recovery-codes'), reauthOpts());
    if (result === CANCELLED) return;
    showCodes(result.codes || [], null);
  }

  // --- enrolment ----------------------------------------------------------------
  async function drawChooser() {
    const errors = errorBox('enrol-error');
    // Only the types the server takes now (the operator may have switched SMS off).
    let available = [];
    try {
      available = (await get('/methods/available')).types || [];
    } catch (err) {
      if (await redirectIfSignedOut(err)) return;
      errors.show(err.message);
    }
    const choices = enrollableTypes(available).map((t) =>
      h(
        'li',
        {},
        h(
          'button',
          {
            type: 'button',
            class: 'choice-button',
            'data-testid': `choose-${t.type}`,
            onclick: () => startEnrolment(t, errors),
          },
          h('span', { class: 'choice-title' }, t.name),
          h('span', { class: 'choice-sub' }, t.description),
        ),
      ),
    );
    body.replaceChildren(
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'chooser-title', 'data-testid': 'method-chooser' },
        h('h2', { id: 'chooser-title', tabindex: '-1' }, 'Choose a method'),
        h('p', {}, 'How do you want to confirm it’s you when you sign in?'),
        h('ul', { class: 'method-choices' }, ...choices),
        errors.el,
        h(
          'div',
          { class: 'actions' },
          h('button', { type: 'button', class: 'secondary', onclick: () => drawOverview() }, 'Cancel'),
        ),
      ),
    );
    body.querySelector('h2').focus();
  }

  async function startEnrolment(type, errors) {
    errors.clear();
    try {
      const module = await import(type.enrol);
      const container = h('div');
      await module.enrol(container, {
        me,
        onCancel: () => drawOverview(),
        onConfirmed: async (codes) => {
          me = (await loadMe()) || me;
          drawNotices();
          showCodes(codes, `${type.name} added. Two-step verification is on.`);
        },
      });
      body.replaceChildren(container);
      // An enrolment view may name its first field (e.g. where a YubiKey types).
      (container.querySelector('[autofocus]') || container.querySelector('h2'))?.focus();
    } catch (err) {
      if (!(await redirectIfSignedOut(err))) errors.show(err.message);
    }
  }

  function showCodes(codes, intro) {
    renderRecoveryCodes(body, {
      codes,
      username: me.user.username,
      intro,
      onDone: () => refresh('Two-step verification settings saved.'),
    });
  }

  drawOverview();
  return null;
}
