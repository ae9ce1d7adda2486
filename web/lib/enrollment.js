// The reminder that an organisation requires two-step verification: a banner with the
// deadline while the grace period runs, and the wording of the enrolment-only mode after it.

import { h, time } from './dom.js';

// me.enrollment = {required, deadline, org: {id, name}} or null.
export function enrollmentBanner(me, { withLink = true } = {}) {
  const e = me && me.enrollment;
  if (!e || me.twofa_enabled) return null;
  const overdue = e.deadline * 1000 <= Date.now();
  return h(
    'p',
    {
      class: 'notice warning',
      role: 'status',
      'data-testid': 'enrollment-banner',
      'data-deadline': e.deadline,
    },
    h('strong', {}, e.org.name),
    overdue
      ? ' requires two-step verification. Add a method to continue.'
      : [' requires two-step verification. Turn it on before ', time(e.deadline), '.'],
    withLink && !overdue
      ? [' ', h('a', { href: '/security', 'data-link': true, 'data-testid': 'enrollment-link' }, 'Turn it on now')]
      : null,
  );
}

export function deadlineText(deadline) {
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(
    new Date(deadline * 1000),
  );
}
