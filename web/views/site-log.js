// The site log: every account's security events (and those of no account), for site
// administrators ([admin] users with two-step verification on). Filters by user, event and
// time; "Load more" asks for a longer page (newest first).

import { get } from '../lib/api.js';
import { errorBox, field, h, onSubmit, setTitle, time, uid } from '../lib/dom.js';
import { isRestricted, loadMe, redirectIfSignedOut, showNav } from '../lib/session.js';
import { EVENT_NAMES, detailText, eventName } from './account.js';

const PAGE = 50;
const MAX = 1000;  // the server's largest page

function row(e) {
  return h(
    'tr',
    { 'data-testid': 'site-log-row', 'data-event': e.event, 'data-user': e.user ?? '' },
    h('td', {}, time(e.at)),
    h('td', {}, e.user ?? h('span', { class: 'muted' }, 'no account')),
    h('th', { scope: 'row' }, eventName(e.event)),
    h('td', {}, e.ip || ''),
    h('td', {}, e.device || ''),
    h('td', {}, detailText(e.detail)),
  );
}

export async function siteLogView(root) {
  const me = await loadMe();
  if (!me) return { redirect: '/login' };
  if (isRestricted(me)) return { redirect: '/security' };
  showNav(true);
  setTitle('Site log');

  const user = field('User', { name: 'user', autocomplete: 'off', 'data-testid': 'filter-user' });
  const eventsId = uid('events');
  const event = field(
    'Event',
    { name: 'event', list: eventsId, autocomplete: 'off', 'data-testid': 'filter-event' },
    'An event name such as login_failed.',
  );
  const since = field('Since', { name: 'since', type: 'datetime-local', 'data-testid': 'filter-since' });
  const errors = errorBox('site-log-error');
  const status = h('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
  const body = h('tbody', { 'data-testid': 'site-log' });
  const more = h('button', { type: 'button', class: 'secondary', 'data-testid': 'load-more', hidden: true }, 'Load more');
  const form = h(
    'form',
    { class: 'stack', 'data-testid': 'site-log-filters', 'aria-labelledby': 'site-log-filters-title' },
    h('h2', { id: 'site-log-filters-title' }, 'Filters'),
    user.wrap,
    event.wrap,
    h('datalist', { id: eventsId }, ...Object.keys(EVENT_NAMES).map((name) => h('option', { value: name }, EVENT_NAMES[name]))),
    since.wrap,
    h('div', { class: 'actions start' }, h('button', { type: 'submit', class: 'primary', 'data-testid': 'filter-submit' }, 'Show')),
  );
  const table = h(
    'table',
    { class: 'table' },
    h('caption', { class: 'visually-hidden' }, 'Security events of the whole site, newest first'),
    h('thead', {}, h('tr', {}, ...['Time', 'User', 'Event', 'Address', 'Device', 'Details'].map((t) => h('th', { scope: 'col' }, t)))),
    body,
  );

  let limit = PAGE;
  async function load() {
    const query = new URLSearchParams({ limit: String(limit) });
    if (user.input.value.trim()) query.set('user', user.input.value.trim());
    if (event.input.value.trim()) query.set('event', event.input.value.trim());
    if (since.input.value) {
      const at = new Date(since.input.value).getTime();
      if (Number.isNaN(at)) throw new Error('Since: enter a date and time.');
      query.set('since', String(Math.max(0, Math.floor(at / 1000))));
    }
    let events;
    try {
      ({ events = [] } = await get(`/admin/audit?${query}`));
    } catch (err) {
      if (await redirectIfSignedOut(err)) return;
      body.replaceChildren();
      more.hidden = true;
      throw err;
    }
    body.replaceChildren(...events.map(row));
    if (!events.length) body.append(h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No events.')));
    more.hidden = events.length < limit || limit >= MAX;
    status.textContent = `${events.length} ${events.length === 1 ? 'event' : 'events'} shown.`;
  }

  onSubmit(form, errors, async () => {
    limit = PAGE;
    await load();
  });
  more.addEventListener('click', async () => {
    more.disabled = true;
    errors.clear();
    limit = Math.min(MAX, limit + PAGE);
    try {
      await load();
    } catch (err) {
      errors.show(err.message);
    } finally {
      more.disabled = false;
    }
  });

  root.append(
    h(
      'div',
      { class: 'page', 'data-testid': 'site-log-page' },
      h('h1', { tabindex: '-1' }, 'Site log'),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'site-log-title' },
        h('h2', { id: 'site-log-title', class: 'visually-hidden' }, 'Security events of every account'),
        form,
        errors.el,
        h('div', { class: 'table-wrap' }, table),
        h('div', { class: 'actions start' }, more),
        status,
      ),
    ),
  );
  try {
    await load();
  } catch (err) {
    errors.show(err.message);
  }
  return null;
}
