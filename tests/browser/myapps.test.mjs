// The admin UI as an innovaphone myApps app (docs/innovaphone.md, "The admin app in myApps").
// A page on another site (http://localhost:<port>, while the server is http://127.0.0.1:<port>)
// plays myApps (./myapps-sim.mjs): it frames our app page and signs the user in as the PBX does.
//
// Run: `node --test tests/browser/` (crates/server/tests/it/browser.rs does this).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { APP, APP_OBJECT, appFrame, freePort, startMyApps, waitForHealth } from './myapps-sim.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TARGET = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target');
const PROV = process.env.YEALINK_PROV_BIN || path.join(TARGET, 'debug/yealink-prov');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const SHOTS = process.env.UPDATE_SCREENSHOTS === '1'
  ? path.join(ROOT, 'docs/screenshots')
  : mkdtempSync(path.join(tmpdir(), 'yealink-prov-shots-'));
const INSTANCE_PASSWORD = 'myapps-instance-' + process.pid;

const children = [];
const servers = [];
let work, base, myapps, stranger, browser, context;

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'yp-myapps-'));
  mkdirSync(SHOTS, { recursive: true });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const myAppsFor = { appBase: () => base, password: INSTANCE_PASSWORD, servers };
  myapps = await startMyApps(myAppsFor);
  stranger = await startMyApps(myAppsFor);
  const child = spawn(PROV, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', path.join(work, 'data')], {
    env: { ...process.env, YEALINK_PROV_ADMIN_PASSWORD: 'myapps-admin-' + process.pid,
      YEALINK_PROV_INNOVAPHONE__PASSWORD: INSTANCE_PASSWORD,
      // Only the simulated myApps' origin may frame the UI, not the stranger's.
      YEALINK_PROV_INNOVAPHONE__FRAME_ORIGINS: `["${myapps}"]`,
      RUST_LOG: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  await waitForHealth(base);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
  });
  context = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 800 } });
});

after(async () => {
  await browser?.close();
  for (const c of children) c.kill('SIGTERM');
  for (const s of servers) s.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('myApps: signed in by the PBX, no password prompt; the user is named; a setting is saved', async () => {
  const page = await context.newPage();
  await page.goto(myapps + '/');
  const frame = await appFrame(page, '/ui/devices');
  await frame.waitForSelector('#add-form');
  assert.equal(await frame.$('#app-password, form[action="/ui/login"]'), null, 'a password prompt was shown');
  const logins = await page.evaluate(() => window.__getLogins);
  assert.equal(logins.length, 1);
  assert.equal(logins[0].app, APP_OBJECT, 'getLogin names the App object');
  assert.match(logins[0].challenge, /^\d{16}$/);
  await frame.waitForSelector('#signed-in-user');
  assert.equal((await frame.textContent('#signed-in-user')).trim(), 'John Doe');
  await page.screenshot({ path: path.join(SHOTS, 'myapps-devices.png') });

  // The settings, through the hamburger menu; CSRF token and session ride along in the frame.
  await frame.click('.menu summary');
  await frame.click('.menu-items a[href="ui/settings"]');
  await frame.waitForSelector('#settings-form');
  await frame.fill('input[name=time_zone]', 'Europe/Vienna');
  await frame.click('#settings-form button[type=submit]');
  await frame.waitForSelector('#settings-result .notice');
  await frame.goto(base + '/ui/settings');
  assert.equal(await frame.inputValue('input[name=time_zone]'), 'Europe/Vienna');

  // "Changes" names the myApps user (display name and SIP name the PBX signed), not a password.
  await frame.goto(base + '/ui/changes');
  const entries = await frame.$$eval('ol.changes li.entry', (lis) => lis.map((li) => li.textContent.replace(/\s+/g, ' ')));
  const mine = entries.find((e) => /Settings changed/.test(e) && /time_zone/.test(e));
  assert.ok(mine, `no settings change in ${JSON.stringify(entries)}`);
  assert.match(mine, /John Doe \(jdoe\)/);
  assert.doesNotMatch(mine, /Admin password/);
  await page.close();
});

test('myApps: German and the dark scheme, as myApps asks', async () => {
  const page = await context.newPage();
  await page.goto(myapps + '/?lang=de&scheme=dark');
  const frame = await appFrame(page, '/ui/devices');
  await frame.waitForSelector('#add-form');
  assert.equal(await frame.getAttribute('html', 'lang'), 'de');
  assert.equal(await frame.getAttribute('html', 'data-scheme'), 'dark');
  assert.match(await frame.textContent('.tabs'), /Geräte/);
  await frame.waitForSelector('#signed-in-user');
  await page.screenshot({ path: path.join(SHOTS, 'myapps-devices-dark-de.png') });
  await page.close();
});

test('myApps: a digest made with the wrong password gets no session', async () => {
  const fresh = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 800 } });
  const page = await fresh.newPage();
  await page.goto(myapps + '/?wrong=1');
  const frame = await appFrame(page, `/${APP}.htm`);
  await frame.waitForSelector('#myapps-status.error');
  assert.match(await frame.textContent('#myapps-status'), /Sign-in failed/);
  assert.ok(!frame.url().includes('/ui/devices'));
  // Nothing to sign in with: the UI still asks for the admin password.
  await frame.goto(base + '/ui/devices');
  assert.match(frame.url(), /\/ui\/login$/);
  await fresh.close();
});

test('myApps: the tile icon loads and the app page says Alive, as lib1 does', async () => {
  const page = await context.newPage();
  await page.goto(myapps + '/');
  await appFrame(page, '/ui/devices');
  const width = await page.$eval('#tile', (img) => img.complete ? img.naturalWidth : 0);
  assert.equal(width, 50, 'the tile <App URL>.png did not load');
  assert.ok((await page.evaluate(() => window.__alive)) >= 1, 'no Alive posted to myApps');
  await page.close();
});

test('myApps: a page on an origin that is not the PBX\'s gets no sign-in and is told what to set', async () => {
  // The UI behind the sign-in is restricted to the allowed framers.
  const r = await fetch(`${base}/ui/login`);
  const csp = r.headers.get('content-security-policy');
  assert.match(csp, new RegExp(`frame-ancestors 'self' ${myapps.replace(/[.:/]/g, '\\$&')}$`));
  assert.ok(!csp.includes(stranger));
  const page = await context.newPage();
  await page.goto(stranger + '/');
  const frame = await appFrame(page, `/${APP}.htm`);
  await frame.waitForSelector('#myapps-status.error');
  const text = await frame.textContent('#myapps-status');
  assert.ok(text.includes(stranger), text);
  assert.match(text, /innovaphone\.frame_origins/);
  assert.deepEqual(await page.evaluate(() => window.__getLogins), [], 'a stranger was asked for a login');
  // Even with a session, the UI itself would not render in the stranger's frame.
  const refused = new Promise((resolve) => page.on('console', (m) => {
    if (/frame-ancestors|Refused to frame/i.test(m.text())) resolve(m.text());
  }));
  await frame.goto(base + '/ui/login').catch(() => {});
  assert.match(await Promise.race([refused, page.waitForTimeout(5000).then(() => 'no refusal')]), /frame/i);
  await page.close();
});

test('opened on its own (not framed): the App object password signs in, a wrong one does not', async () => {
  const fresh = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 800 } });
  const page = await fresh.newPage();
  await page.goto(`${base}/${APP}.htm`);
  await page.fill('#app-password', 'wrong-app-password');
  await page.click('#myapps-password button[type=submit]');
  await page.waitForSelector('#myapps-status.error');
  await page.goto(`${base}/${APP}.htm`);
  await page.fill('#app-password', INSTANCE_PASSWORD);
  await page.click('#myapps-password button[type=submit]');
  await page.waitForURL(/\/ui\/devices/);
  await page.waitForSelector('#add-form');
  assert.equal(await page.textContent('.user'), '');
  await fresh.close();
});

test('opened on its own: a language switch, and the page in German after it', async () => {
  const fresh = await browser.newContext({ locale: 'en-US', viewport: { width: 375, height: 800 } });
  const page = await fresh.newPage();
  await page.goto(`${base}/${APP}.htm`);
  await page.waitForSelector('#myapps-password:not([hidden])');
  assert.match(await page.textContent('#myapps-password'), /App object/);
  await page.click('#myapps-lang');
  await page.waitForURL(/lang=de/);
  await page.waitForSelector('#myapps-password:not([hidden])');
  assert.equal(await page.getAttribute('html', 'lang'), 'de');
  assert.match(await page.textContent('#myapps-password'), /Passwort des App-Objekts/);
  assert.match(await page.textContent('#myapps-lang'), /English/);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'sideways at 375 px');
  await fresh.close();
});
