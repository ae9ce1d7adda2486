// TOTP codes from oathtool (RFC 6238, SHA-1, 6 digits, 30 s), never reusing a step:
// the server accepts each step once, so nextCode() waits for a new step when needed.

import { execFileSync } from 'node:child_process';

const STEP_SECONDS = 30;
// A code this close to the end of its step may be stale when it arrives: wait instead.
const MIN_REMAINING_MS = 2_500;

const lastStep = new Map();

export function totpAt(secret, unixSeconds) {
  return execFileSync('oathtool', ['--totp', '-b', '--now', `@${Math.floor(unixSeconds)}`, secret], {
    encoding: 'utf8',
  }).trim();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function nextCode(secret) {
  for (;;) {
    const nowMs = Date.now();
    const step = Math.floor(nowMs / 1000 / STEP_SECONDS);
    const stepEndMs = (step + 1) * STEP_SECONDS * 1000;
    const last = lastStep.get(secret);
    if ((last !== undefined && step <= last) || stepEndMs - nowMs < MIN_REMAINING_MS) {
      await sleep(stepEndMs - nowMs + 200);
      continue;
    }
    lastStep.set(secret, step);
    return totpAt(secret, step * STEP_SECONDS);
  }
}
