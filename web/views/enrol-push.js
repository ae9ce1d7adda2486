// Enrolment of the twostep-auth companion: a single-use link (also as a QR code) that the
// authenticator enrols with, then its first code to confirm. Exports enrol(container,
// {me, onConfirmed, onCancel}) like every enrolment view.

import { post } from '../lib/api.js';
import { confirmCodeForm } from '../lib/confirm-code.js';
import { base64Utf8, h } from '../lib/dom.js';

export async function enrol(container, { onConfirmed, onCancel }) {
  const started = await post('/methods/push', {});
  const { method_id: methodId, enrollment_uri: uri, qr_svg: svg, expires_at: expiresAt } = started;

  const form = confirmCodeForm({
    methodId,
    label: 'Code from twostep-auth',
    hint: 'The 6 digits twostep-auth printed after enrolling (or run: twostep-auth code).',
    prefix: 'push',
    onConfirmed,
    onCancel,
  });

  const minutes = Math.max(1, Math.round((expiresAt * 1000 - Date.now()) / 60000));
  const command = `twostep-auth enroll '${uri}'`;
  container.replaceChildren(
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'push-title', 'data-testid': 'push-setup' },
      h('h2', { id: 'push-title', tabindex: '-1' }, 'Set up twostep-auth'),
      h(
        'ol',
        { class: 'steps' },
        h(
          'li',
          {},
          h('p', {}, 'Scan this code with the authenticator, or give it the link below.'),
          svg
            ? h('img', {
                class: 'qr',
                src: `data:image/svg+xml;base64,${base64Utf8(svg)}`,
                alt: 'QR code with the enrolment link for twostep-auth',
                width: 200,
                height: 200,
                'data-testid': 'push-qr',
              })
            : null,
          h('p', {}, 'On a computer, run:'),
          h('p', {}, h('code', { class: 'secret', 'data-testid': 'push-command', 'data-uri': uri }, command)),
          h('p', { class: 'hint' }, `The link works once, for about ${minutes} minutes. Keep it to yourself.`),
        ),
        h('li', {}, h('p', {}, 'Enter the code it shows to confirm.'), form),
      ),
    ),
  );
  container.querySelector('h2').focus();
}
