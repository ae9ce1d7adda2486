// Pieces shared by the SMS views: a "Send a new code" button that stays disabled while the
// server's resend cool-down runs, and says so.

import { h } from '../lib/dom.js';

export function cooldownButton(label, seconds, attrs = {}) {
  const button = h('button', { type: 'button', class: 'secondary', ...attrs }, label);
  let timer = null;
  let left = 0;
  const draw = () => {
    button.disabled = left > 0;
    button.textContent = left > 0 ? `${label} (${left} s)` : label;
  };
  const stop = () => {
    if (timer) clearInterval(timer);
    timer = null;
    left = 0;
    draw();
  };
  const restart = (s) => {
    stop();
    left = Math.max(0, Math.ceil(Number(s) || 0));
    draw();
    if (left > 0) {
      timer = setInterval(() => {
        left -= 1;
        draw();
        if (left <= 0 || !button.isConnected) stop();
      }, 1000);
    }
  };
  restart(seconds);
  return { button, restart, stop };
}
