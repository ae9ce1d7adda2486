// Headless Debian Chromium through playwright-core (no downloaded browsers).

import { chromium } from 'playwright-core';

export const chromiumPath = process.env.TWOSTEP_CHROMIUM || '/usr/bin/chromium';

// extraArgs: more Chromium switches, e.g. '--host-resolver-rules=MAP *.example.com 127.0.0.1'.
export function launchBrowser({ extraArgs = [] } = {}) {
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      ...extraArgs,
    ],
  });
}

// A fresh browser profile (its own cookies) pointed at the server.
export async function newContext(browser, baseURL, options = {}) {
  const context = await browser.newContext({ baseURL, acceptDownloads: true, ...options });
  context.setDefaultTimeout(10_000);
  return context;
}

// A fresh profile with one page: {context, page, errors} (errors as trackErrors collects them).
export async function newProfile(browser, baseURL, options) {
  const context = await newContext(browser, baseURL, options);
  const page = await context.newPage();
  return { context, page, errors: trackErrors(page) };
}

// Collects console errors and page errors (CSP violations show up here).
export function trackErrors(page) {
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  return errors;
}

// Only problems that are ours: failed API calls (401 on a guarded page, a wrong code)
// also log "Failed to load resource", which is expected.
export function unexpectedErrors(errors) {
  return errors.filter((e) => !/Failed to load resource/.test(e));
}
