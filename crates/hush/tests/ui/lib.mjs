// Shared helpers of the `hush ui` browser scenarios (chat.mjs, link.mjs, alert.mjs); not a
// scenario itself.
//
// Environment read here (besides each scenario's own):
//   HUSH_UI_SHOTS     directory for the PNG screenshots (created if missing; required)
//   HUSH_UI_CHROMIUM  the browser to drive (default /usr/bin/chromium)
//   HUSH_UI_STEP_MS   time allowed for one step, in ms (default 30000)
//   HUSH_UI_TOTAL_MS  time allowed for the whole scenario, in ms (default 600000)
//
// A scenario is `run(name, async (t) => { … })`: it exits 0 when the body returns, and 1
// with "FAIL <scenario>: <step>: <why>" on stderr (plus a fail-*.png of every page) when a
// step throws, when a page throws an uncaught exception or when the page breaks the CSP.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

export const STEP = Number(process.env.HUSH_UI_STEP_MS || 30_000);
const TOTAL = Number(process.env.HUSH_UI_TOTAL_MS || 600_000);

/** An environment variable; a missing required one fails the scenario with its name. */
export function env(name, fallback) {
  const v = process.env[name];
  if (v !== undefined && v !== '') return v;
  if (fallback !== undefined) return fallback;
  throw new Error(`the environment variable ${name} is not set`);
}

const log = (...a) => console.log(`[${new Date().toISOString().slice(11, 23)}]`, ...a);

/** Polls `fn` until it returns a truthy value; throws `what` after `timeout` ms. */
export async function until(fn, what, timeout = STEP) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try { const v = await fn(); if (v) return v; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`${what} (waited ${Math.round(timeout / 1000)} s)${last ? `; last error: ${last.message.split('\n')[0]}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The text of a locator, whitespace collapsed. */
export async function textOf(locator) {
  return ((await locator.textContent({ timeout: STEP })) || '').replace(/\s+/g, ' ').trim();
}

export async function run(scenario, body) {
  const shots = env('HUSH_UI_SHOTS');
  fs.mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: env('HUSH_UI_CHROMIUM', '/usr/bin/chromium'),
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const pages = new Map();
  const problems = [];
  let current = 'start';
  const t = {
    /** A fresh browser context (its own cookies: one person) with one page. */
    async person(name, options = {}) {
      const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 860 }, ...options });
      context.setDefaultTimeout(STEP);
      const page = await context.newPage();
      page.on('pageerror', (e) => problems.push(`${name}'s page threw: ${e.message}`));
      page.on('console', (m) => {
        const text = m.text();
        if (/Content Security Policy|Refused to (load|execute|apply)/i.test(text)) problems.push(`${name}'s page broke the CSP: ${text}`);
        else if (m.type() === 'error' && !/Failed to load resource/.test(text)) log(`${name} console: ${text}`);
      });
      pages.set(name, page);
      return page;
    },
    /** One named step: logged, and named in the failure. */
    async step(name, fn) {
      current = name;
      const t0 = Date.now();
      await fn();
      if (problems.length) throw new Error(problems.join('; '));
      log(`ok   ${name} (${Date.now() - t0} ms)`);
    },
    async shot(page, file) {
      await page.screenshot({ path: path.join(shots, file), fullPage: true });
      log(`shot ${file}`);
    },
  };
  const timer = setTimeout(() => {
    console.error(`FAIL ${scenario}: ${current}: the whole scenario took longer than ${TOTAL / 1000} s`);
    process.exit(2);
  }, TOTAL);
  let code = 0;
  try {
    await body(t);
    if (problems.length) throw new Error(problems.join('; '));
    log(`PASS ${scenario}`);
  } catch (e) {
    code = 1;
    console.error(`FAIL ${scenario}: ${current}: ${e && e.message ? e.message : e}`);
    for (const [name, page] of pages) {
      await page.screenshot({ path: path.join(shots, `fail-${scenario}-${name}.png`), fullPage: true }).catch(() => {});
    }
  } finally {
    clearTimeout(timer);
    await browser.close().catch(() => {});
  }
  process.exit(code);
}

/** Opens the one-time URL (it sets the session cookie and redirects to the app). */
export async function open(page, url) {
  await page.goto(url, { timeout: STEP });
  await until(async () => page.url().startsWith(new URL(url).origin) && !page.url().includes('/session'), `the one-time URL ${url} did not lead to the app`);
  await page.locator('main h1').first().waitFor({ timeout: STEP });
}

/**
 * Registers through the onboarding screen: server, username, passphrase twice, then the
 * recovery phrase (read) and the check of three of its words. With `shots`, screenshots
 * onboarding.png and recovery-phrase.png.
 */
export async function register(t, page, { server, username, passphrase, shots = false }) {
  await page.getByRole('heading', { name: 'Welcome to hush' }).waitFor();
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Server address').fill(server);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Passphrase', { exact: true }).fill(passphrase);
  await page.getByLabel('Passphrase again').fill(passphrase);
  if (shots) await t.shot(page, 'onboarding.png');
  await page.getByRole('button', { name: 'Create account' }).click();
  const phrase = page.getByTestId('recovery-phrase');
  await phrase.waitFor({ timeout: 60_000 });
  const words = (await phrase.locator('.word').allTextContents()).map((w) => w.trim());
  if (words.length !== 24 || words.some((w) => !/^[a-z]+$/.test(w))) throw new Error(`the recovery phrase shown is not 24 words: ${words.join(' ')}`);
  if (shots) await t.shot(page, 'recovery-phrase.png');
  await page.getByRole('button', { name: 'I have written them down' }).click();
  const check = page.getByTestId('phrase-check');
  await check.waitFor();
  const boxes = check.getByRole('textbox');
  const n = await boxes.count();
  if (n !== 3) throw new Error(`the phrase check asks for ${n} words, not 3`);
  for (let i = 0; i < n; i++) {
    const pos = Number(await boxes.nth(i).getAttribute('data-position'));
    await boxes.nth(i).fill(words[pos - 1]);
  }
  await page.getByRole('button', { name: 'Check', exact: true }).click();
  await page.getByRole('heading', { name: 'Conversations', exact: true }).waitFor();
  return words;
}

/** Goes to a screen by the sidebar. */
export async function nav(page, name) {
  const menu = page.getByRole('button', { name: 'Menu' });
  if (await menu.isVisible()) await menu.click(); // phone width: the sidebar is behind it
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: new RegExp(`^${name}`) }).click();
  await page.getByRole('heading', { level: 1 }).first().waitFor();
}

/** Opens a conversation from the list by its shown name. */
export async function openConversation(page, name) {
  await nav(page, 'Conversations');
  await page.getByRole('list', { name: 'Conversations' }).getByRole('link', { name, exact: true }).click();
  await page.getByRole('heading', { level: 1, name, exact: true }).waitFor();
}

/** Sends in the open conversation (confirming a new contact if asked). */
export async function send(page, text) {
  await page.getByLabel('Message', { exact: true }).fill(text);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await messageShown(page, text);
}

/** Waits until a message with exactly this text is in the open conversation. */
export async function messageShown(page, text, timeout = STEP) {
  await page.getByRole('list', { name: 'Messages' }).locator('.text', { hasText: text }).first().waitFor({ timeout });
}

/** Clicks the confirm button of the open dialog, after checking its title. */
export async function confirmDialog(page, title, button) {
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('heading', { name: title }).waitFor();
  await dialog.getByRole('button', { name: button, exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
}
