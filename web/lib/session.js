// Who is signed in, and the bits of page chrome that depend on it.

import { ApiError, get } from './api.js';
import { watchApprovals } from './approvals.js';

// The last answer of loadMe: the navigation shows the site log's link to site admins only.
let lastMe = null;

// GET /api/v1/me, or null when not (fully) signed in.
export async function loadMe() {
  try {
    lastMe = await get('/me');
  } catch (err) {
    lastMe = null;
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return null;
    throw err;
  }
  return lastMe;
}

// `restricted`: a session that an organisation's policy limits to adding a first method;
// only "Sign out" is offered.
export function showNav(signedIn, { restricted = false } = {}) {
  const nav = document.getElementById('nav');
  if (nav) nav.hidden = !signedIn;
  // Signed-in pages show sign-in requests of this account (approve or deny them here).
  watchApprovals(signedIn);
  for (const link of document.querySelectorAll('#nav a')) {
    link.hidden = restricted || ('siteAdmin' in link.dataset && !lastMe?.site_admin);
    if (link.getAttribute('href') === location.pathname) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

// Whether /me describes a session restricted to enrolment by an organisation's policy.
export function isRestricted(me) {
  return Boolean(me && me.session && me.session.state === 'enrollment_required');
}

// A one-shot message for the next view ("You signed out.").
let flash = null;
export function setFlash(message, kind = 'info') {
  flash = { message, kind };
}
export function takeFlash() {
  const f = flash;
  flash = null;
  return f;
}

// For pages that need a signed-in session: when an action finds the session gone
// (revoked elsewhere, expired), go to the sign-in page. Returns true if it did.
export async function redirectIfSignedOut(err) {
  if (!(err instanceof ApiError && err.status === 401 && err.code === 'not_authenticated')) return false;
  const { navigate } = await import('./router.js');
  setFlash('Your session has ended. Please sign in again.', 'warning');
  await navigate('/login', { replace: true });
  return true;
}
