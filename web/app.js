// Entry point: registers the pages and starts the router.

import { post } from './lib/api.js';
import { navigate, route, startRouter } from './lib/router.js';
import { loadMe, setFlash } from './lib/session.js';
import { loginView, signupView } from './views/auth.js';
import { accountView } from './views/account.js';
import { securityView } from './views/security.js';
import { orgsView, orgView } from './views/orgs.js';
import { siteLogView } from './views/site-log.js';

route('/', async () => ({ redirect: (await loadMe()) ? '/account' : '/login' }));
route('/login', loginView);
route('/signup', signupView);
route('/account', accountView);
route('/security', securityView);
route('/orgs', orgsView);
route('/org', orgView);
route('/site-log', siteLogView);

document.getElementById('signout').addEventListener('click', async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    await post('/logout');
    setFlash('You have signed out.');
  } catch {
    // Signed out already, or the session was revoked: the sign-in page is right anyway.
  } finally {
    button.disabled = false;
  }
  navigate('/login', { replace: true });
});

startRouter();
