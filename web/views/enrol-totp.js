// Enrolment of an authenticator app (TOTP): QR code and key, then a first code to
// confirm. Every enrolment view exports enrol(container, {me, onConfirmed, onCancel}).

import { post } from '../lib/api.js';
import { confirmCodeForm } from '../lib/confirm-code.js';
import { base64Utf8, groupsOf4, h } from '../lib/dom.js';

export async function enrol(container, { onConfirmed, onCancel }) {
  const started = await post('/methods/totp', {});
  const { method_id: methodId, secret, otpauth_uri: uri, qr_svg: svg } = started;

  const form = confirmCodeForm({
    methodId,
    label: 'Code from the app',
    hint: 'The 6 digits the app shows now.',
    prefix: 'totp',
    onConfirmed,
    onCancel,
  });

  // The QR code is the server's SVG shown as an image (never inserted as markup).
  const qr = svg
    ? h('img', {
        class: 'qr',
        src: `data:image/svg+xml;base64,${base64Utf8(svg)}`,
        alt: 'QR code to scan with your authenticator app',
        width: 200,
        height: 200,
        'data-testid': 'totp-qr',
      })
    : null;

  container.replaceChildren(
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'totp-title', 'data-testid': 'totp-setup' },
      h('h2', { id: 'totp-title', tabindex: '-1' }, 'Set up your authenticator app'),
      h(
        'ol',
        { class: 'steps' },
        h(
          'li',
          {},
          h('p', {}, 'Open your authenticator app and scan this QR code.'),
          qr,
          h(
            'div',
            { class: 'manual' },
            h('p', {}, 'Can’t scan it? Enter this key by hand (time-based, 6 digits, 30 seconds):'),
            h('p', {}, h('code', { class: 'secret', 'data-testid': 'totp-secret', 'data-secret': secret }, groupsOf4(secret))),
            uri ? h('p', {}, h('a', { href: uri }, 'Open in an authenticator app on this device')) : null,
          ),
        ),
        h('li', {}, h('p', {}, 'Enter the code the app shows to confirm.'), form),
      ),
    ),
  );
  container.querySelector('h2').focus();
}
