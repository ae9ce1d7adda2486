// Sign-in requests of this account, shown on every signed-in page: when the account is
// being signed in somewhere else, this browser can approve it (choosing the number that
// screen shows) or deny it. Follows GET /api/v1/approvals (Server-Sent Events).

import { ApiError, post } from './api.js';
import { h, time } from './dom.js';

let source = null;
const prompts = new Map(); // request id -> {el, timer}

function region() {
  let el = document.getElementById('approval-prompts');
  if (!el) {
    el = h('div', {
      id: 'approval-prompts',
      class: 'approval-prompts',
      role: 'region',
      'aria-label': 'Sign-in requests',
      'aria-live': 'polite',
      'data-testid': 'approval-prompts',
    });
    document.getElementById('main').before(el);
  }
  return el;
}

function remove(id, delayMs = 0) {
  const p = prompts.get(id);
  if (!p) return;
  clearTimeout(p.timer);
  p.timer = setTimeout(() => {
    p.el.remove();
    prompts.delete(id);
  }, delayMs);
}

function settle(id, kind, text) {
  const p = prompts.get(id);
  if (!p) return;
  p.el.dataset.state = kind;
  p.el.replaceChildren(h('p', { class: `notice ${kind === 'approved' ? 'ok' : 'warning'}`, role: 'status' }, text));
  remove(id, 5000);
}

async function answer(a, approve, number, errors, buttons) {
  buttons.forEach((b) => (b.disabled = true));
  errors.hidden = true;
  try {
    const r = await post(`/approvals/${encodeURIComponent(a.id)}`, approve ? { approve, number } : { approve });
    if (r.state === 'approved') settle(a.id, 'approved', 'Approved: the other device is signed in.');
    else if (approve) settle(a.id, 'denied', 'That was not the number on the other screen: the sign-in was denied.');
    else settle(a.id, 'denied', 'Denied. If it was not you, change your password.');
  } catch (err) {
    if (err instanceof ApiError && (err.status === 409 || err.status === 404)) {
      settle(a.id, 'gone', err.message);
      return;
    }
    errors.textContent = err.message;
    errors.hidden = false;
    buttons.forEach((b) => (b.disabled = false));
  }
}

function show(a) {
  if (prompts.has(a.id)) return;
  const titleId = `approval-title-${a.id}`;
  const errors = h('p', { class: 'error', role: 'alert', hidden: true });
  const buttons = [];
  const choices = (a.choices || []).map((n) => {
    const b = h(
      'button',
      {
        type: 'button',
        class: 'secondary number-choice',
        'data-testid': 'approval-choice',
        'data-number': n,
        'aria-label': `Yes, it is me: ${n}`,
      },
      String(n),
    );
    b.addEventListener('click', () => answer(a, true, n, errors, buttons));
    buttons.push(b);
    return b;
  });
  const deny = h('button', { type: 'button', class: 'danger-outline', 'data-testid': 'approval-deny' }, 'No, it’s not me');
  deny.addEventListener('click', () => answer(a, false, 0, errors, buttons));
  buttons.push(deny);
  const el = h(
    'section',
    {
      class: 'card approval-prompt',
      role: 'region',
      'aria-labelledby': titleId,
      'data-testid': 'approval-prompt',
      'data-approval-id': a.id,
    },
    h('h2', { id: titleId }, 'Is this you signing in?'),
    h(
      'p',
      {},
      'Someone is signing in to ',
      h('strong', {}, a.account || 'your account'),
      ` from ${a.device || 'an unknown browser'} (${a.ip || 'unknown address'}), `,
      time(a.created_at, { relativeTime: true }),
      '.',
    ),
    h('p', {}, 'If it is you, choose the number shown on that screen:'),
    h('div', { class: 'actions start number-choices', role: 'group', 'aria-label': 'Numbers' }, ...choices),
    h('div', { class: 'actions start' }, deny),
    errors,
  );
  const timer = setTimeout(() => settle(a.id, 'expired', 'The sign-in request expired.'),
                           Math.max(0, a.expires_at * 1000 - Date.now()));
  prompts.set(a.id, { el, timer });
  region().append(el);
}

function stop() {
  if (source) source.close();
  source = null;
  for (const { el, timer } of prompts.values()) {
    clearTimeout(timer);
    el.remove();
  }
  prompts.clear();
}

// On while a page is signed in, off otherwise.
export function watchApprovals(on) {
  if (!on) {
    stop();
    return;
  }
  if (source || typeof EventSource === 'undefined') return;
  source = new EventSource('/api/v1/approvals');
  source.addEventListener('approval', (e) => show(JSON.parse(e.data)));
  source.addEventListener('decided', (e) => {
    const d = JSON.parse(e.data);
    if (prompts.get(d.id)?.el.dataset.state) return;  // answered here: keep our message
    settle(d.id, d.state, d.state === 'approved' ? 'Approved on another device.' : 'Denied on another device.');
  });
  source.addEventListener('revoked', () => stop());
}
