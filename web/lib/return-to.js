// Where to go after signing in. nginx's auth_request sends a browser without a session to
// /login?rd=<the page it wanted>; the server says whether that page is within this site's
// domain (no open redirect), and the answer is kept for this tab until sign-in completes
// (the second step may reload the page).

import { get } from './api.js';

const KEY = 'twostep.return_to';

// Reads ?rd= on the sign-in page. Returns 'none', 'ok' or 'refused'.
export async function captureReturnTo() {
  const rd = new URLSearchParams(location.search).get('rd');
  if (!rd) {
    sessionStorage.removeItem(KEY);
    return 'none';
  }
  try {
    const { url } = await get(`/return-url?rd=${encodeURIComponent(rd)}`);
    sessionStorage.setItem(KEY, url);
    return 'ok';
  } catch {
    sessionStorage.removeItem(KEY);
    return 'refused';
  }
}

// After a completed sign-in: to the checked page if there is one, else to `fallback`.
export async function afterSignIn(navigate, { fallback = '/account', replace = false } = {}) {
  const url = sessionStorage.getItem(KEY);
  sessionStorage.removeItem(KEY);
  if (url) {
    location.assign(url);
    return;
  }
  await navigate(fallback, { replace });
}
