// Organisations: the list of yours (and creating one, where the server allows it), and one
// organisation's page. Admins and owners see the members with their two-step status, change
// roles, add and remove members, set the policy, reset a member's 2FA (with a
// re-authentication) and read the organisation's log; members see the policy they are under.

import { api, del, get, patch, post } from '../lib/api.js';
import { CANCELLED, confirmDialog, withReauth } from '../lib/dialogs.js';
import { checkbox, errorBox, field, h, onSubmit, setTitle, time, uid } from '../lib/dom.js';
import { deadlineText } from '../lib/enrollment.js';
import { reauthOptions, typeName } from '../lib/methods.js';
import { isRestricted, loadMe, redirectIfSignedOut, showNav } from '../lib/session.js';
import { eventName } from './account.js';
import { flashBox } from './auth.js';

const ROLES = [
  ['member', 'Member'],
  ['admin', 'Admin'],
  ['owner', 'Owner'],
];
const roleName = (role) => (ROLES.find(([r]) => r === role) || [role, role])[1];

function policyText(org) {
  if (!org.require_2fa) return 'Two-step verification is optional.';
  if (!org.grace_days) return 'Two-step verification is required of every member.';
  return `Two-step verification is required of every member, within ${org.grace_days} ${
    org.grace_days === 1 ? 'day' : 'days'
  } of joining or of the rule starting.`;
}

async function signedInMe() {
  const me = await loadMe();
  if (!me) return { redirect: '/login' };
  if (isRestricted(me)) return { redirect: '/security' };
  showNav(true);
  return { me };
}

// --- /orgs ----------------------------------------------------------------------------

export async function orgsView(root) {
  const { me, redirect } = await signedInMe();
  if (!me) return { redirect };
  setTitle('Organisations');
  const { orgs = [], can_create: canCreate = false } = await get('/orgs');

  const list = h('ul', { class: 'list', 'data-testid': 'org-list' });
  if (!orgs.length) list.append(h('li', { class: 'muted' }, 'You are not in any organisation.'));
  for (const org of orgs) {
    list.append(
      h(
        'li',
        { class: 'item', 'data-testid': 'org-item', 'data-org-id': org.id },
        h(
          'div',
          { class: 'item-main' },
          h(
            'p',
            { class: 'item-title' },
            h('a', { href: `/org?id=${encodeURIComponent(org.id)}`, 'data-link': true, 'data-testid': 'org-link' }, org.name),
            h('span', { class: 'badge' }, roleName(org.role)),
          ),
          h('p', { class: 'item-meta' }, policyText(org)),
        ),
      ),
    );
  }

  let create = null;
  if (canCreate) {
    const errors = errorBox('create-org-error');
    const name = field('Name', { type: 'text', name: 'name', required: true, maxlength: 64, 'data-testid': 'org-name' });
    const form = h(
      'form',
      { class: 'stack', 'data-testid': 'create-org-form' },
      name.wrap,
      errors.el,
      h('div', { class: 'actions start' }, h('button', { type: 'submit', class: 'primary', 'data-testid': 'create-org' }, 'Create')),
    );
    onSubmit(form, errors, async () => {
      try {
        const org = await post('/orgs', { name: name.input.value });
        const { navigate } = await import('../lib/router.js');
        await navigate(`/org?id=${encodeURIComponent(org.id)}`);
      } catch (err) {
        if (!(await redirectIfSignedOut(err))) throw err;
      }
    });
    create = h(
      'section',
      { class: 'card', 'aria-labelledby': 'create-org-title' },
      h('h2', { id: 'create-org-title' }, 'Create an organisation'),
      h('p', {}, 'You become its owner. You can then add people by their username.'),
      form,
    );
  }

  root.append(
    h(
      'div',
      { class: 'page', 'data-testid': 'orgs-page' },
      h('h1', { tabindex: '-1' }, 'Organisations'),
      flashBox(),
      h('section', { class: 'card', 'aria-labelledby': 'my-orgs-title' }, h('h2', { id: 'my-orgs-title' }, 'Yours'), list),
      create ||
        h('p', { class: 'hint', 'data-testid': 'orgs-operator-hint' },
          'Organisations are created by the operator of this server.'),
    ),
  );
  return null;
}

// --- /org?id=N --------------------------------------------------------------------------

export async function orgView(root) {
  const { me, redirect } = await signedInMe();
  if (!me) return { redirect };
  const id = new URLSearchParams(location.search).get('id') || '';
  const { orgs = [] } = await get('/orgs');
  const mine = orgs.find((o) => String(o.id) === id);
  if (!mine) {
    setTitle('Organisation');
    root.append(
      h(
        'section',
        { class: 'card narrow', 'data-testid': 'org-missing' },
        h('h1', { tabindex: '-1' }, 'No such organisation'),
        h('p', {}, 'It does not exist, or you are not one of its members.'),
        h('p', {}, h('a', { href: '/orgs', 'data-link': true }, 'Your organisations')),
      ),
    );
    return null;
  }
  setTitle(mine.name);
  const isAdmin = mine.role === 'admin' || mine.role === 'owner';
  const page = h('div', { class: 'page', 'data-testid': 'org-page', 'data-role': mine.role });
  const announce = h('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite', 'data-testid': 'org-status' });
  const membersCard = h('section', { class: 'card', 'aria-labelledby': 'members-title' });
  const policyCard = h('section', { class: 'card', 'aria-labelledby': 'policy-title', 'data-testid': 'policy-card' });
  const auditCard = h('section', { class: 'card', 'aria-labelledby': 'org-audit-title' });
  page.append(
    ...[
      h('h1', { tabindex: '-1' }, mine.name),
      flashBox(),
      h('p', {}, 'Your role: ', h('strong', { 'data-testid': 'my-role' }, roleName(mine.role))),
      announce,
    ].filter(Boolean),
  );
  root.append(page);

  if (!isAdmin) {
    policyCard.append(
      h('h2', { id: 'policy-title' }, 'Two-step verification'),
      h('p', { 'data-testid': 'policy-text' }, policyText(mine)),
      h('p', { class: 'hint' }, 'Only the admins and owners of this organisation manage its members.'),
    );
    page.append(policyCard);
    return null;
  }

  const base = `/orgs/${encodeURIComponent(mine.id)}`;
  let view = null; // GET members: {org, role, members}

  async function reload(message) {
    view = await get(`${base}/members`);
    drawMembers();
    drawPolicy();
    await drawAudit();
    if (message) announce.textContent = message;
  }

  // Runs an action, reporting failures in `errors`; a 401 goes to the sign-in page.
  async function run(errors, fn) {
    errors.clear();
    try {
      await fn();
    } catch (err) {
      if (!(await redirectIfSignedOut(err))) errors.show(err.message);
    }
  }

  // --- members ---
  function drawMembers() {
    const errors = errorBox('members-error');
    const viewerIsOwner = view.role === 'owner';
    const rows = view.members.map((m) => memberRow(m, viewerIsOwner, errors));
    const table = h(
      'table',
      { class: 'table', 'data-testid': 'members-table' },
      h('caption', { class: 'visually-hidden' }, `Members of ${view.org.name}`),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Member', 'Role', 'Two-step verification', 'Last sign-in', 'Actions'].map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h('tbody', {}, ...rows),
    );
    membersCard.replaceChildren(
      h('h2', { id: 'members-title' }, 'Members'),
      h('div', { class: 'table-wrap' }, table),
      errors.el,
      addMemberForm(viewerIsOwner),
    );
  }

  function memberRow(m, viewerIsOwner, errors) {
    const self = m.username === me.user.username;
    const canTouch = viewerIsOwner || m.role !== 'owner';
    // Choosing a role and applying it are two steps, so that moving through the options with
    // the keyboard does not send a change for each one.
    const selectId = uid('role');
    const save = h(
      'button',
      {
        type: 'button',
        class: 'secondary small',
        disabled: true,
        'data-testid': 'member-role-save',
        'aria-label': `Save the role of ${m.username}`,
        onclick: () =>
          run(errors, async () => {
            await patch(`${base}/members/${encodeURIComponent(m.username)}`, { role: select.value });
            await reload(`${m.username} is now ${roleName(select.value).toLowerCase()}.`);
          }),
      },
      'Save',
    );
    const select = h(
      'select',
      {
        id: selectId,
        'data-testid': 'member-role',
        disabled: !canTouch,
        onchange: () => {
          save.disabled = select.value === m.role;
        },
      },
      ...ROLES.map(([value, label]) =>
        h('option', { value, selected: value === m.role, disabled: value === 'owner' && !viewerIsOwner }, label),
      ),
    );
    const twofa = m.twofa_enabled
      ? h(
          'span',
          {},
          h('span', { class: 'badge ok', 'data-testid': 'member-twofa', 'data-enabled': 'true' }, 'On'),
          ' ',
          h('span', { class: 'muted' }, m.method_types.map(typeName).join(', ')),
        )
      : h(
          'span',
          {},
          h('span', { class: 'badge off', 'data-testid': 'member-twofa', 'data-enabled': 'false' }, 'Off'),
          m.enrollment_deadline
            ? h(
                'span',
                { class: 'muted', 'data-testid': 'member-deadline', 'data-deadline': m.enrollment_deadline },
                ` · must enrol by ${deadlineText(m.enrollment_deadline)}`,
              )
            : null,
        );
    const actions = h('div', { class: 'item-actions' });
    if (m.twofa_enabled && !self && canTouch) {
      actions.append(
        h(
          'button',
          {
            type: 'button',
            class: 'danger-outline small',
            'data-testid': 'reset-twofa',
            'aria-label': `Reset two-step verification of ${m.username}`,
            onclick: () => run(errors, () => resetTwofa(m)),
          },
          'Reset 2FA',
        ),
      );
    }
    if (canTouch) {
      actions.append(
        h(
          'button',
          {
            type: 'button',
            class: 'secondary small',
            'data-testid': 'remove-member',
            'aria-label': `Remove ${m.username}`,
            onclick: () => run(errors, () => removeMember(m)),
          },
          'Remove',
        ),
      );
    }
    return h(
      'tr',
      { 'data-testid': 'member-row', 'data-username': m.username },
      h('th', { scope: 'row' }, m.username, self ? h('span', { class: 'badge accent' }, 'You') : null),
      h(
        'td',
        {},
        h('div', { class: 'inline-form' }, h('label', { for: selectId, class: 'visually-hidden' }, `Role of ${m.username}`), select, canTouch ? save : null),
      ),
      h('td', {}, twofa),
      h('td', {}, time(m.last_login_at, { relativeTime: true })),
      h('td', {}, actions),
    );
  }

  async function resetTwofa(m) {
    // A lost phone's mail app holds an application password: revoked unless the admin says not.
    const revoke = checkbox(
      'Also revoke their application passwords (mail, calendar and sync clients will have to be set up again)',
      { name: 'revoke_app_passwords', checked: true, 'data-testid': 'reset-revoke-app-passwords' },
    );
    const ok = await confirmDialog({
      title: `Reset two-step verification of ${m.username}?`,
      text:
        'Their methods and recovery codes are removed and every session of theirs ends. They sign in ' +
        'with their password alone and set up two-step verification again. Only do this when you ' +
        'are sure it is them asking (for example, a lost phone).',
      extra: revoke.wrap,
      confirmLabel: 'Reset',
      danger: true,
    });
    if (!ok) return;
    const body = { revoke_app_passwords: revoke.input.checked };
    const result = await withReauth(
      () => del(`${base}/members/${encodeURIComponent(m.username)}/twofa`, body),
      reauthOptions(me),
    );
    if (result === CANCELLED) return;
    const n = result.app_passwords_revoked || 0;
    const revoked = body.revoke_app_passwords
      ? ` ${n} application ${n === 1 ? 'password was' : 'passwords were'} revoked.`
      : ' Their application passwords were kept.';
    await reload(`Two-step verification of ${m.username} was reset.${revoked}`);
  }

  async function removeMember(m) {
    const ok = await confirmDialog({
      title: `Remove ${m.username} from ${view.org.name}?`,
      text: 'Their account stays; it is no longer under this organisation’s rules.',
      confirmLabel: 'Remove',
      danger: true,
    });
    if (!ok) return;
    await del(`${base}/members/${encodeURIComponent(m.username)}`);
    await reload(`${m.username} was removed.`);
  }

  function addMemberForm(viewerIsOwner) {
    const errors = errorBox('add-member-error');
    const username = field('Username', {
      type: 'text',
      name: 'username',
      autocomplete: 'off',
      autocapitalize: 'none',
      spellcheck: 'false',
      required: true,
      'data-testid': 'add-username',
    });
    const roleId = uid('new-role');
    const role = h(
      'select',
      { id: roleId, name: 'role', 'data-testid': 'add-role' },
      ...ROLES.filter(([r]) => viewerIsOwner || r !== 'owner').map(([value, label]) => h('option', { value }, label)),
    );
    const form = h(
      'form',
      { class: 'stack', 'data-testid': 'add-member-form', 'aria-labelledby': 'add-member-title' },
      h('h3', { id: 'add-member-title' }, 'Add a member'),
      username.wrap,
      h('div', { class: 'field' }, h('label', { for: roleId }, 'Role'), role),
      errors.el,
      h('div', { class: 'actions start' }, h('button', { type: 'submit', class: 'primary', 'data-testid': 'add-submit' }, 'Add')),
    );
    onSubmit(form, errors, async () => {
      const name = username.input.value.trim();
      await post(`${base}/members`, { username: name, role: role.value });
      await reload(`${name} was added.`);
      membersCard.querySelector('[data-testid=add-username]')?.focus();
    });
    return form;
  }

  // --- policy ---
  function drawPolicy() {
    const org = view.org;
    const errors = errorBox('policy-error');
    const require = checkbox('Require two-step verification of every member', {
      name: 'require_2fa',
      checked: org.require_2fa,
      'data-testid': 'policy-require',
    });
    const grace = field(
      'Grace period (days)',
      { type: 'number', name: 'grace_days', min: 0, max: 365, step: 1, required: true, value: String(org.grace_days), 'data-testid': 'policy-grace' },
      'Members without two-step verification may keep signing in normally for this many days (0: they must set it up at their next sign-in).',
    );
    const form = h(
      'form',
      { class: 'stack', 'data-testid': 'policy-form' },
      require.wrap,
      grace.wrap,
      errors.el,
      h('div', { class: 'actions start' }, h('button', { type: 'submit', class: 'primary', 'data-testid': 'policy-save' }, 'Save')),
    );
    onSubmit(form, errors, async () => {
      await api('PUT', `${base}/policy`, {
        require_2fa: require.input.checked,
        grace_days: Number.parseInt(grace.input.value || '0', 10),
      });
      await reload('Policy saved.');
    });
    policyCard.replaceChildren(
      ...[
        h('h2', { id: 'policy-title' }, 'Two-step verification'),
        h('p', { 'data-testid': 'policy-text' }, policyText(org)),
        org.require_2fa && org.policy_since ? h('p', { class: 'hint' }, 'Required since ', time(org.policy_since), '.') : null,
        form,
      ].filter(Boolean),
    );
  }

  // --- audit ---
  async function drawAudit() {
    const list = h('ol', { class: 'list log', 'data-testid': 'org-audit' });
    const { events = [] } = await get(`${base}/audit?limit=50`);
    if (!events.length) list.append(h('li', { class: 'muted' }, 'Nothing yet.'));
    for (const e of events) {
      const detail = Object.entries(e.detail || {})
        .map(([k, v]) => `${k.replace(/_/g, ' ')}: ${v}`)
        .join(', ');
      list.append(
        h(
          'li',
          { class: 'item', 'data-testid': 'org-event', 'data-event': e.event },
          h(
            'div',
            { class: 'item-main' },
            h('p', { class: 'item-title' }, orgEventName(e.event), e.subject ? ` · ${e.subject}` : ''),
            h('p', { class: 'item-meta' }, time(e.at), ` · by ${e.actor || 'someone'}`, e.ip ? ` · ${e.ip}` : '', detail ? ` · ${detail}` : ''),
          ),
        ),
      );
    }
    auditCard.replaceChildren(h('h2', { id: 'org-audit-title' }, 'Organisation log'), list);
  }

  page.append(membersCard, policyCard, auditCard);
  await reload();
  return null;
}

const ORG_EVENTS = {
  org_created: 'Organisation created',
  member_added: 'Member added',
  member_removed: 'Member removed',
  member_role_changed: 'Role changed',
  policy_changed: 'Two-step verification policy changed',
  member_twofa_reset: 'Two-step verification reset',
};

function orgEventName(event) {
  return ORG_EVENTS[event] || eventName(event);
}
