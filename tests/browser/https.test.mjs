// The admin UI over the HTTPS listener, where Chromium speaks HTTP/2 (ALPN): the sign-in form
// and the myApps entry, whose same-origin checks must read HTTP/2's `:authority` (there is no
// `Host` header) and compare the Origin's scheme. A throwaway P-256 certificate for 127.0.0.1
// (openssl); the browser is told to accept it.
//
// Run: `node --test tests/browser/` (crates/server/tests/it/browser.rs does this).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { APP, appFrame, freePort, startMyApps, waitForHealth } from './myapps-sim.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TARGET = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target');
const PROV = process.env.YEALINK_PROV_BIN || path.join(TARGET, 'debug/yealink-prov');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const ADMIN_PASSWORD = 'https-admin-' + process.pid;
const INSTANCE_PASSWORD = 'https-instance-' + process.pid;

const run = promisify(execFile);
const children = [];
const servers = [];
let work, httpsBase, myapps, browser;

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'yp-https-'));
  mkdirSync(path.join(work, 'data'));
  const cert = path.join(work, 'cert.pem');
  const key = path.join(work, 'key.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1']);
  const port = await freePort();
  const tlsPort = await freePort();
  httpsBase = `https://127.0.0.1:${tlsPort}`;
  myapps = await startMyApps({ appBase: () => httpsBase, password: INSTANCE_PASSWORD, servers });
  const child = spawn(PROV, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', path.join(work, 'data')], {
    env: { ...process.env, YEALINK_PROV_ADMIN_PASSWORD: ADMIN_PASSWORD,
      YEALINK_PROV_LISTEN_TLS: `127.0.0.1:${tlsPort}`,
      YEALINK_PROV_TLS_CERT: cert, YEALINK_PROV_TLS_KEY: key,
      YEALINK_PROV_INNOVAPHONE__PASSWORD: INSTANCE_PASSWORD,
      YEALINK_PROV_INNOVAPHONE__FRAME_ORIGINS: `["${myapps}"]`,
      RUST_LOG: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  // Health over the plain listener: Node's fetch would refuse the throwaway certificate.
  await waitForHealth(`http://127.0.0.1:${port}`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
  });
});

after(async () => {
  await browser?.close();
  for (const c of children) c.kill('SIGTERM');
  for (const s of servers) s.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function freshContext() {
  return browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 800 }, ignoreHTTPSErrors: true });
}

/** The protocol the page's document came over ("h2" for HTTP/2). */
async function protocolOf(frameOrPage) {
  return frameOrPage.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
}

test('HTTPS (HTTP/2): the sign-in form signs in', async () => {
  const context = await freshContext();
  const page = await context.newPage();
  await page.goto(httpsBase + '/ui/login');
  assert.equal(await protocolOf(page), 'h2', 'the browser did not speak HTTP/2');
  await page.fill('#password', 'not-the-password');
  await page.click('button[type=submit]');
  // Refused for the password, not as "sent from another site".
  assert.match(await page.textContent('#login-error'), /Wrong password/);
  await page.fill('#password', ADMIN_PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/ui\/devices/);
  await page.waitForSelector('#add-form');
  assert.equal(await protocolOf(page), 'h2');
  await context.close();
});

test('HTTPS (HTTP/2): the myApps entry signs the PBX user in inside the frame', async () => {
  const context = await freshContext();
  const page = await context.newPage();
  await page.goto(myapps + '/');
  const frame = await appFrame(page, '/ui/devices');
  await frame.waitForSelector('#add-form');
  assert.equal(await protocolOf(frame), 'h2');
  assert.equal(await frame.$('#app-password, form[action="/ui/login"]'), null, 'a password prompt was shown');
  await frame.waitForSelector('#signed-in-user');
  assert.equal((await frame.textContent('#signed-in-user')).trim(), 'John Doe');
  await context.close();
});

test('HTTPS (HTTP/2): the App object password signs in on the app page opened on its own', async () => {
  const context = await freshContext();
  const page = await context.newPage();
  await page.goto(`${httpsBase}/${APP}.htm`);
  await page.fill('#app-password', INSTANCE_PASSWORD);
  await page.click('#myapps-password button[type=submit]');
  await page.waitForURL(/\/ui\/devices/);
  await page.waitForSelector('#add-form');
  await context.close();
});
