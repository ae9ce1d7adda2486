// Small DOM helpers. Everything is built with createElement and textContent: no
// innerHTML, so text from the server can never become markup.

// h('button', {type: 'button', class: 'primary', onclick: fn}, 'Save')
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'checked' || key === 'disabled' || key === 'value') {
      el[key] = value;
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let idCounter = 0;
export function uid(prefix = 'f') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

// A labelled input: returns {wrap, input}. Extra attrs go on the <input>.
export function field(label, attrs = {}, hint = null) {
  const id = attrs.id || uid(attrs.name || 'field');
  const hintId = hint ? `${id}-hint` : null;
  const input = h('input', { ...attrs, id, 'aria-describedby': hintId });
  const wrap = h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
  );
  return { wrap, input };
}

// A checkbox with its label after it.
export function checkbox(label, attrs = {}) {
  const id = attrs.id || uid(attrs.name || 'check');
  const input = h('input', { type: 'checkbox', ...attrs, id });
  const wrap = h('div', { class: 'check' }, input, h('label', { for: id }, label));
  return { wrap, input };
}

// The error line under a form. role="alert" makes screen readers announce it.
export function errorBox(testid = 'form-error') {
  const box = h('p', { class: 'error', role: 'alert', 'data-testid': testid, hidden: true });
  return {
    el: box,
    show(message) {
      box.textContent = message;
      box.hidden = false;
    },
    clear() {
      box.textContent = '';
      box.hidden = true;
    },
  };
}

// Runs an async submit handler with the button disabled and errors shown in `errors`.
export function onSubmit(form, errors, handler) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (form.dataset.busy) return;
    form.dataset.busy = '1';
    form.setAttribute('aria-busy', 'true');
    const buttons = [...form.querySelectorAll('button[type=submit]')];
    buttons.forEach((b) => (b.disabled = true));
    errors.clear();
    try {
      await handler(event);
    } catch (err) {
      errors.show(err && err.message ? err.message : String(err));
    } finally {
      delete form.dataset.busy;
      form.removeAttribute('aria-busy');
      buttons.forEach((b) => {
        if (!b.dataset.keepDisabled) b.disabled = false;
      });
    }
  });
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

// A <time> element for a Unix time in seconds; "—" when missing.
export function time(unixSeconds, { relativeTime = false } = {}) {
  if (unixSeconds === null || unixSeconds === undefined || unixSeconds === 0) {
    return h('span', { class: 'muted' }, 'never');
  }
  const date = new Date(unixSeconds * 1000);
  const absolute = dateFormat.format(date);
  let text = absolute;
  if (relativeTime) {
    const diff = Math.round((unixSeconds * 1000 - Date.now()) / 1000);
    const abs = Math.abs(diff);
    if (abs < 60) text = 'just now';
    else if (abs < 3600) text = relative.format(Math.round(diff / 60), 'minute');
    else if (abs < 86400) text = relative.format(Math.round(diff / 3600), 'hour');
    else if (abs < 7 * 86400) text = relative.format(Math.round(diff / 86400), 'day');
  }
  return h('time', { datetime: date.toISOString(), title: absolute }, text);
}

export function setTitle(text) {
  document.title = text ? `${text} · twostep` : 'twostep';
}

// "ABCDEFGH..." → "ABCD EFGH ..." for reading and typing by hand.
export function groupsOf4(text) {
  return (text.match(/.{1,4}/g) || []).join(' ');
}

// Base64 of a UTF-8 string (for data: URLs).
export function base64Utf8(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

// The attributes of a one-time-code input (6 digits from an app or a text message): the
// keyboard shows digits and browsers offer the code they received.
export function oneTimeCodeAttrs(testid) {
  return {
    type: 'text',
    name: 'code',
    autocomplete: 'one-time-code',
    inputmode: 'numeric',
    pattern: '[0-9 ]*',
    maxlength: 12,
    spellcheck: 'false',
    'data-testid': testid,
  };
}
