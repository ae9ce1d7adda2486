// Sign-in and sign-up pages.

import { csrfToken, get, post } from '../lib/api.js';
import { checkbox, errorBox, field, h, onSubmit, setTitle } from '../lib/dom.js';
import { navigate } from '../lib/router.js';
import { loadMe, setFlash, showNav, takeFlash } from '../lib/session.js';
import { afterSignIn, captureReturnTo } from '../lib/return-to.js';
import { renderSecondStep } from './second-step.js';

export function flashBox() {
  const flash = takeFlash();
  if (!flash) return null;
  return h('p', { class: `notice ${flash.kind}`, role: 'status', 'data-testid': 'flash' }, flash.message);
}

// Shown on /login; also used by the second step to start over with a message.
export function renderLoginForm(root, { error = null } = {}) {
  setTitle('Sign in');
  const errors = errorBox();
  const username = field('Username', {
    type: 'text',
    name: 'username',
    autocomplete: 'username',
    autocapitalize: 'none',
    spellcheck: 'false',
    required: true,
    autofocus: true,
    'data-testid': 'username',
  });
  const password = field('Password', {
    type: 'password',
    name: 'password',
    autocomplete: 'current-password',
    required: true,
    'data-testid': 'password',
  });
  const remember = checkbox('Stay signed in', { name: 'remember', 'data-testid': 'remember' });
  remember.wrap.append(
    h('p', { class: 'hint' }, 'Only on a device you don’t share. Otherwise you are signed out when the browser closes.'),
  );

  const form = h(
    'form',
    { class: 'stack', 'data-testid': 'login-form' },
    username.wrap,
    password.wrap,
    remember.wrap,
    errors.el,
    h('button', { type: 'submit', class: 'primary wide', 'data-testid': 'submit' }, 'Sign in'),
  );

  onSubmit(form, errors, async () => {
    const result = await post('/login', {
      username: username.input.value.trim(),
      password: password.input.value,
      remember: remember.input.checked,
    });
    if (result.status === 'second_factor') {
      renderSecondStep(root, result);
      return;
    }
    if (result.status === 'enrollment_required') {
      // The security page says which organisation requires it and that nothing else opens.
      await navigate('/security');
      return;
    }
    await afterSignIn(navigate);
  });

  root.replaceChildren(
    h(
      'section',
      { class: 'card narrow', 'data-testid': 'login-page' },
      h('h1', { tabindex: '-1' }, 'Sign in'),
      flashBox(),
      form,
      h('p', { class: 'alt' }, 'New here? ', h('a', { href: '/signup', 'data-link': true }, 'Create an account')),
    ),
  );
  if (error) errors.show(error);
}

export async function loginView(root) {
  const returnTo = await captureReturnTo();
  if (await loadMe()) {
    // Already signed in (another tab): go straight back to where nginx sent us from.
    await afterSignIn(navigate, { replace: true });
    return null;
  }
  if (returnTo === 'refused') {
    setFlash('The page that sent you here is outside this site: after signing in you stay here.', 'warning');
  }
  showNav(false);
  // A pending second step survives a page reload.
  let state = null;
  try {
    state = await get('/login/state');
  } catch {
    state = null;
  }
  if (state && state.status === 'second_factor') {
    renderSecondStep(root, state);
    return null;
  }
  // Login CSRF: the cookie must exist before the POST.
  await csrfToken().catch(() => null);
  renderLoginForm(root);
  return null;
}

export async function signupView(root) {
  if (await loadMe()) return { redirect: '/account' };
  showNav(false);
  setTitle('Create an account');
  await csrfToken().catch(() => null);

  const errors = errorBox();
  const username = field(
    'Username',
    {
      type: 'text',
      name: 'username',
      autocomplete: 'username',
      autocapitalize: 'none',
      spellcheck: 'false',
      required: true,
      minlength: 3,
      maxlength: 64,
      autofocus: true,
      'data-testid': 'username',
    },
    '3 to 64 characters: letters, digits, dot, underscore or hyphen.',
  );
  const password = field(
    'Password',
    {
      type: 'password',
      name: 'password',
      autocomplete: 'new-password',
      required: true,
      minlength: 10,
      maxlength: 256,
      'data-testid': 'password',
    },
    'At least 10 characters. A few unrelated words make a strong password.',
  );
  const form = h(
    'form',
    { class: 'stack', 'data-testid': 'signup-form' },
    username.wrap,
    password.wrap,
    errors.el,
    h('button', { type: 'submit', class: 'primary wide', 'data-testid': 'submit' }, 'Create account'),
  );
  onSubmit(form, errors, async () => {
    await post('/signup', { username: username.input.value.trim(), password: password.input.value });
    await navigate('/account');
  });

  root.append(
    h(
      'section',
      { class: 'card narrow', 'data-testid': 'signup-page' },
      h('h1', { tabindex: '-1' }, 'Create an account'),
      form,
      h('p', { class: 'alt' }, 'Already have an account? ', h('a', { href: '/login', 'data-link': true }, 'Sign in')),
    ),
  );
  return null;
}
