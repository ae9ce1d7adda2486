// A tiny client-side router: the server answers index.html for every page URL, and
// this module picks the view for location.pathname. Links marked data-link and
// navigate() use history.pushState, so the back button works.

import { clear, h, setTitle } from './dom.js';

const routes = new Map();
let renderToken = 0;
let firstRender = true;

export function route(path, view) {
  routes.set(path, view);
}

// Whether a render started with `token` is still the one on screen.
export function isCurrent(token) {
  return token === renderToken;
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  return render();
}

function notFound(main) {
  setTitle('Not found');
  main.append(
    h('section', { class: 'card narrow' },
      h('h1', { tabindex: '-1' }, 'Page not found'),
      h('p', {}, 'There is nothing at this address.'),
      h('p', {}, h('a', { href: '/', 'data-link': true }, 'Go to your account'))),
  );
}

export async function render() {
  const token = ++renderToken;
  const main = document.getElementById('main');
  const path = location.pathname.replace(/\/+$/, '') || '/';
  const view = routes.get(path) || notFound;
  main.setAttribute('aria-busy', 'true');
  // Views render into a detached container, shown only if no newer navigation started.
  const container = h('div', { class: 'view' });
  let result;
  try {
    result = await view(container, { token });
  } catch (err) {
    container.replaceChildren(
      h('section', { class: 'card narrow' },
        h('h1', { tabindex: '-1' }, 'Something went wrong'),
        h('p', { class: 'error', role: 'alert' }, err && err.message ? err.message : String(err)),
        h('p', {}, h('a', { href: location.pathname, 'data-link': true }, 'Try again'))),
    );
  }
  if (!isCurrent(token)) return;
  // A view may answer {redirect: '/login'} instead of rendering.
  if (result && result.redirect) {
    await navigate(result.redirect, { replace: true });
    return;
  }
  clear(main, container);
  main.removeAttribute('aria-busy');
  const auto = main.querySelector('[autofocus]');
  if (auto) auto.focus();
  else if (!firstRender) (main.querySelector('h1') || main).focus();
  firstRender = false;
}

export function startRouter() {
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a[data-link]');
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  window.addEventListener('popstate', () => render());
  return render();
}
