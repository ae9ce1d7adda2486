// Shows a fresh set of recovery codes once: download, copy, and "I have saved them"
// before the person can leave.

import { checkbox, h } from '../lib/dom.js';

export const RECOVERY_FILE_NAME = 'twostep-recovery-codes.txt';

export function recoveryFileText(codes, username) {
  const lines = [
    `twostep recovery codes${username ? ` for ${username}` : ''}`,
    `Created ${new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}`,
    '',
    'Each code can be used once to sign in when you cannot use your usual method.',
    'Keep them somewhere safe. Creating new codes makes these stop working.',
    '',
    ...codes,
    '',
  ];
  return lines.join('\n');
}

export function downloadText(fileName, text) {
  const blob = new Blob([text], { type: 'text/plain;charset=utf-8' });
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: fileName, class: 'visually-hidden' });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// Renders into `container`; calls onDone() when the person clicks Done.
export function renderRecoveryCodes(container, { codes, username, intro, onDone }) {
  const status = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite', 'data-testid': 'codes-status' });
  const download = h(
    'button',
    { type: 'button', class: 'secondary', 'data-testid': 'download-codes' },
    'Download',
  );
  const copy = h('button', { type: 'button', class: 'secondary', 'data-testid': 'copy-codes' }, 'Copy');
  const saved = checkbox('I have saved them', { 'data-testid': 'saved-codes' });
  const done = h(
    'button',
    { type: 'button', class: 'primary', disabled: true, 'data-testid': 'codes-done' },
    'Done',
  );

  download.addEventListener('click', () => {
    downloadText(RECOVERY_FILE_NAME, recoveryFileText(codes, username));
    status.textContent = `Saved as ${RECOVERY_FILE_NAME}.`;
  });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(codes.join('\n'));
      status.textContent = 'Copied to the clipboard.';
    } catch {
      status.textContent = 'Copying is not allowed here. Use Download, or select the codes.';
    }
  });
  saved.input.addEventListener('change', () => {
    done.disabled = !saved.input.checked;
  });
  done.addEventListener('click', () => onDone());

  container.replaceChildren(
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'codes-title', 'data-testid': 'recovery-codes-view' },
      h('h2', { id: 'codes-title', tabindex: '-1' }, 'Save your recovery codes'),
      intro ? h('p', { class: 'notice ok', role: 'status' }, intro) : null,
      h(
        'p',
        {},
        'If you lose access to your second step, each of these codes lets you sign in once. ',
        'Store them somewhere safe, such as a password manager. They are shown only now; ',
        'any codes you had before no longer work.',
      ),
      h(
        'ol',
        { class: 'codes', 'data-testid': 'recovery-codes' },
        ...codes.map((c) => h('li', {}, h('code', { 'data-testid': 'recovery-code' }, c))),
      ),
      h('div', { class: 'actions start' }, download, copy),
      status,
      saved.wrap,
      h('div', { class: 'actions' }, done),
    ),
  );
  container.querySelector('h2').focus();
}
