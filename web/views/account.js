// The account page: who you are, 2FA status, sessions, and the security log.

import { del, get } from '../lib/api.js';
import { h, setTitle, time } from '../lib/dom.js';
import { typeName } from '../lib/methods.js';
import { enrollmentBanner } from '../lib/enrollment.js';
import { isRestricted, loadMe, redirectIfSignedOut, showNav } from '../lib/session.js';
import { flashBox } from './auth.js';

// Labels of the security log's events (the site log shows the same).
export const EVENT_NAMES = {
  account_created: 'Account created',
  account_locked: 'Sign-in locked after too many failures',
  address_locked: 'Sign-in from an address locked',
  login_succeeded: 'Signed in',
  login_failed: 'Failed sign-in',
  password_accepted: 'Password accepted, waiting for the second step',
  password_changed: 'Password changed',
  logout: 'Signed out',
  session_revoked: 'Session revoked',
  second_factor_failed: 'Wrong second-step code',
  second_factor_locked: 'Second step locked after too many failures',
  recovery_code_used: 'Recovery code used',
  recovery_codes_generated: 'New recovery codes',
  recovery_codes_revoked: 'Recovery codes revoked by the server operator',
  method_added: 'Two-step method added',
  method_confirm_failed: 'Wrong code while adding a method',
  method_removed: 'Two-step method removed',
  method_renamed: 'Two-step method renamed',
  default_method_changed: 'Default method changed',
  twofa_disabled: 'Two-step verification turned off',
  reauthenticated: 'Identity confirmed',
  reauth_failed: 'Failed identity check',
  org_member_added: 'Added to an organisation',
  org_role_changed: 'Organisation role changed',
  org_member_removed: 'Removed from an organisation',
  twofa_reset_by_admin: 'Two-step verification reset by an organisation admin',
  twofa_reset_by_operator: 'Two-step verification reset by the server operator',
  sessions_restricted: 'Sessions limited until two-step verification is on',
  enrollment_completed: 'Two-step verification turned on as your organisation requires',
  push_enrollment_started: 'Authenticator setup started',
  push_device_enrolled: 'Authenticator enrolled',
  push_request_rejected: 'Authenticator request refused',
  approval_requested: 'Sign-in approval requested',
  approval_granted: 'Sign-in approved',
  approval_rate_limited: 'Too many sign-in approval requests',
  sign_in_rejected: 'Sign-in rejected',
  site_audit_viewed: 'Site log read',
};

export function eventName(event) {
  if (EVENT_NAMES[event]) return EVENT_NAMES[event];
  const words = String(event).replace(/[._]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

// The event's detail ({"reason":"password"}) as short text.
export function detailText(detail) {
  if (typeof detail === 'string') return detail;
  if (!detail || typeof detail !== 'object') return '';
  return Object.entries(detail)
    .filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v))
    .map(([k, v]) => `${k.replace(/_/g, ' ')}: ${v}`)
    .join(', ');
}

function sessionItem(session, onRevoke) {
  const revoke = session.current
    ? null
    : h(
        'button',
        {
          type: 'button',
          class: 'secondary small',
          'data-testid': 'revoke-session',
          'aria-label': `Revoke ${session.device || 'session'} (${session.ip || 'unknown address'})`,
        },
        'Revoke',
      );
  const item = h(
    'li',
    {
      class: 'item',
      'data-testid': 'session',
      'data-session-id': session.id,
      'data-current': session.current ? 'true' : 'false',
    },
    h(
      'div',
      { class: 'item-main' },
      h(
        'p',
        { class: 'item-title' },
        h('span', { 'data-testid': 'session-device' }, session.device || 'Unknown device'),
        session.current ? h('span', { class: 'badge accent', 'data-testid': 'current-session' }, 'This device') : null,
        session.remember ? h('span', { class: 'badge' }, 'Stays signed in') : null,
      ),
      h(
        'p',
        { class: 'item-meta' },
        h('span', { 'data-testid': 'session-ip' }, session.ip || 'unknown address'),
        ' · signed in ',
        time(session.created_at),
        ' · last seen ',
        time(session.last_seen_at, { relativeTime: true }),
      ),
    ),
    revoke,
  );
  if (revoke) revoke.addEventListener('click', () => onRevoke(session, item, revoke));
  return item;
}

async function sessionsCard() {
  const status = h('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
  const error = h('p', { class: 'error', role: 'alert', hidden: true, 'data-testid': 'sessions-error' });
  const list = h('ul', { class: 'list', 'data-testid': 'sessions' });
  const card = h(
    'section',
    { class: 'card', 'aria-labelledby': 'sessions-title' },
    h('h2', { id: 'sessions-title' }, 'Where you’re signed in'),
    list,
    error,
    status,
  );

  async function onRevoke(session, item, button) {
    button.disabled = true;
    error.hidden = true;
    try {
      await del(`/sessions/${encodeURIComponent(session.id)}`);
      item.remove();
      status.textContent = `Signed out ${session.device || 'the session'}.`;
    } catch (err) {
      if (await redirectIfSignedOut(err)) return;
      button.disabled = false;
      error.textContent = err.message;
      error.hidden = false;
    }
  }

  try {
    const { sessions = [] } = await get('/sessions');
    // This device first, then the most recently seen.
    sessions.sort((a, b) => (b.current - a.current) || (b.last_seen_at || 0) - (a.last_seen_at || 0));
    list.append(...sessions.map((s) => sessionItem(s, onRevoke)));
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
  }
  return card;
}

async function auditCard() {
  const list = h('ol', { class: 'list log', 'data-testid': 'audit-log' });
  const card = h(
    'section',
    { class: 'card', 'aria-labelledby': 'audit-title' },
    h('h2', { id: 'audit-title' }, 'Recent security events'),
    list,
  );
  try {
    const { events = [] } = await get('/audit?limit=20');
    if (!events.length) list.append(h('li', { class: 'muted' }, 'Nothing yet.'));
    for (const e of events) {
      list.append(
        h(
          'li',
          { class: 'item', 'data-testid': 'audit-event', 'data-event': e.event },
          h(
            'div',
            { class: 'item-main' },
            h('p', { class: 'item-title' }, eventName(e.event)),
            h(
              'p',
              { class: 'item-meta' },
              time(e.at),
              e.ip ? ` · ${e.ip}` : '',
              detailText(e.detail) ? ` · ${detailText(e.detail)}` : '',
            ),
          ),
        ),
      );
    }
  } catch (err) {
    card.append(h('p', { class: 'error', role: 'alert' }, err.message));
  }
  return card;
}

function overviewCard(me) {
  const methods = me.methods || [];
  const def = methods.find((m) => m.default) || methods[0];
  const status = me.twofa_enabled
    ? h(
        'span',
        {},
        h('span', { class: 'badge ok', 'data-testid': 'twofa-status', 'data-enabled': 'true' }, 'On'),
        def ? ` Default: ${def.label || typeName(def.type)}` : '',
      )
    : h(
        'span',
        {},
        h('span', { class: 'badge off', 'data-testid': 'twofa-status', 'data-enabled': 'false' }, 'Off'),
        ' ',
        h('a', { href: '/security', 'data-link': true }, 'Turn on two-step verification'),
      );
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'overview-title' },
    h('h2', { id: 'overview-title' }, 'Your account'),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Username'),
      h('dd', { 'data-testid': 'account-username' }, me.user.username),
      h('dt', {}, 'Member since'),
      h('dd', {}, time(me.user.created_at)),
      h('dt', {}, 'Two-step verification'),
      h('dd', {}, status),
      me.twofa_enabled ? h('dt', {}, 'Recovery codes left') : null,
      me.twofa_enabled ? h('dd', { 'data-testid': 'recovery-count' }, String(me.recovery_codes_remaining ?? 0)) : null,
    ),
  );
}

export async function accountView(root) {
  const me = await loadMe();
  if (!me) return { redirect: '/login' };
  if (isRestricted(me)) return { redirect: '/security' };
  showNav(true);
  setTitle('Account');
  const [sessions, audit] = await Promise.all([sessionsCard(), auditCard()]);
  root.append(
    h(
      'div',
      { class: 'page', 'data-testid': 'account-page' },
      h('h1', { tabindex: '-1' }, `Hello, ${me.user.username}`),
      flashBox(),
      enrollmentBanner(me),
      overviewCard(me),
      sessions,
      audit,
    ),
  );
  return null;
}
