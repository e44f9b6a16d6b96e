// Browser tests of the admin web UI: Playwright (playwright-core) driving Debian's Chromium
// against the real `yealink-prov serve`, the RPS simulator and a simulated phone.
//
// Run: `node --test tests/browser/` (the Rust test crates/server/tests/it/browser.rs does this).
// Binaries: $YEALINK_PROV_BIN and $YEALINK_SIM_BIN, else target/debug/ of this checkout.
// Screenshots go to docs/screenshots/ with UPDATE_SCREENSHOTS=1, else to a temporary folder
// (so a test run leaves the work tree clean).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TARGET = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target');
const PROV = process.env.YEALINK_PROV_BIN || path.join(TARGET, 'debug/yealink-prov');
const SIM = process.env.YEALINK_SIM_BIN || path.join(TARGET, 'debug/yealink-sim');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const SHOTS = process.env.UPDATE_SCREENSHOTS === '1'
  ? path.join(ROOT, 'docs/screenshots')
  : mkdtempSync(path.join(tmpdir(), 'yealink-prov-shots-'));
const PASSWORD = 'browser-test-admin-' + process.pid;
const MAC = '00:15:65:12:34:56';
const MAC_HEX = '001565123456';
// innovaphone: the App instance password, and the phone Users adds for John Doe.
const INSTANCE_PASSWORD = 'browser-instance-' + process.pid;
const PBX_MAC = '00:15:65:ab:cd:ef';
const PBX_MAC_HEX = '001565abcdef';
// A MAC the RPS simulator says another account owns: its redirect fails with RPS's answer.
const FOREIGN_MAC = '00:15:65:99:88:77';
const FOREIGN_MAC_HEX = '001565998877';

const run = promisify(execFile);
const children = [];
let work, base, rps, browser, page;

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Starts a process; resolves with the first stdout line matching `ready` (or on timeout fails). */
function start(cmd, args, env, ready) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} not ready:\n${out}\n${err}`)), 30000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(ready);
      if (m) { clearTimeout(timer); resolve(m); }
    });
    child.on('exit', (code) => reject(new Error(`${cmd} exited with ${code}:\n${out}\n${err}`)));
  });
}

async function waitForHealth(url) {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(url + '/healthz');
      if (r.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not become healthy');
}

/** The simulated phone: asks RPS where to go, then fetches its files. Retries while the
 *  redirect is still queued. Returns the simulator's output. */
async function phoneBoots(mac) {
  let last;
  for (let i = 0; i < 60; i++) {
    try {
      const { stdout } = await run(SIM, ['provision', '--rps', rps, '--mac', mac, '--model', 'T46U', '--firmware', '108.86.0.90']);
      return stdout;
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw last;
}

async function shot(name, width = 1280) {
  await page.setViewportSize({ width, height: width < 600 ? 800 : 860 });
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: width < 600 ? false : true });
}

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'yp-browser-'));
  mkdirSync(SHOTS, { recursive: true });
  const rpsMatch = await start(SIM, ['rps', '--listen', '127.0.0.1:0', '--user', 'xml-user',
    '--password', 'xml-pass', '--access-key-id', 'AKID-BROWSER', '--access-key-secret', 'browser-rps-secret',
    '--foreign', FOREIGN_MAC],
  {}, /RPS simulator on (http:\/\/\S+)/);
  rps = rpsMatch[1];
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  start(PROV, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', path.join(work, 'data')],
    { YEALINK_PROV_ADMIN_PASSWORD: PASSWORD, YEALINK_PROV_INNOVAPHONE__PASSWORD: INSTANCE_PASSWORD,
      // The App instance's domain (the simulated PBX's): the RPS server name from the start.
      YEALINK_PROV_INNOVAPHONE__DOMAIN: 'example.com',
      RUST_LOG: 'warn' }, /$^/).catch(() => {});
  await waitForHealth(base);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
  });
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 860 } });
  page = await context.newPage();
});

after(async () => {
  await browser?.close();
  for (const c of children) c.kill('SIGTERM');
  if (work) rmSync(work, { recursive: true, force: true });
});

test('sign in: a wrong password is refused with a clear message, the right one signs in', async () => {
  await page.goto(base + '/ui/devices');
  assert.match(page.url(), /\/ui\/login$/);
  await shot('sign-in');
  // The way back in when nobody knows the password.
  assert.match(await page.textContent('#login-forgot'), /Forgot the admin password\?.*yealink-prov admin reset-password/s);
  await page.fill('#password', 'not-the-password');
  await page.click('button[type=submit]');
  assert.match(await page.textContent('#login-error'), /Wrong password/);
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/ui\/devices/);
  assert.equal(await page.textContent('h1 >> nth=0').then((t) => t.trim().startsWith('Devices')), true);
});

test('settings: the RPS account (own, simulator) and the public URL are saved; the secret is never shown', async () => {
  await page.goto(base + '/ui/settings');
  await page.fill('input[name=public_base_url]', base);
  await page.selectOption('select[name=rps_mode]', 'own');
  await page.selectOption('select[name=rps_api]', 'json');
  await page.fill('input[name=rps_endpoint]', rps);
  await page.fill('input[name=rps_username]', 'AKID-BROWSER');
  await page.fill('input[name=rps_secret]', 'browser-rps-secret');
  await page.fill('input[name=time_zone]', 'Mars/Olympus_Mons');
  await page.click('#settings-form button[type=submit]');
  // Validation names the field.
  await page.waitForSelector('#settings-result .error');
  assert.match(await page.textContent('#settings-result'), /Time zone/);
  await page.fill('input[name=time_zone]', 'Europe/Berlin');
  await page.click('#settings-form button[type=submit]');
  await page.waitForSelector('#settings-result .notice');
  await page.reload();
  // The RPS panel: the account in use, reachable, our server registered with the URL in use.
  let status = '';
  for (let i = 0; i < 30 && !/with the URL in use/.test(status); i++) {
    if (i > 0) { await page.waitForTimeout(300); await page.reload(); }
    await page.waitForSelector('#rps-status #rps-status-facts');
    status = await page.textContent('#rps-status');
  }
  assert.match(status, /your own account \(these settings\)/);
  assert.match(status, /AKID-BROWSER/);
  assert.match(status, /Reachable\s*yes/);
  assert.match(status, /yes, with the URL in use/);
  assert.ok(!status.includes('browser-rps-secret'));
  assert.equal((await page.textContent('#settings-result')).trim(), '', 'the panel landed in the result');
  assert.equal(await page.inputValue('input[name=rps_secret]'), '');
  assert.ok(!(await page.content()).includes('browser-rps-secret'));
  assert.equal(await page.inputValue('input[name=time_zone]'), 'Europe/Berlin');
  await shot('settings');
});

test('add a device: the MAC is checked while typing, the device appears in the list', async () => {
  await page.goto(base + '/ui/devices');
  await page.fill('input[name=mac]', '00:15:65:12:34');
  await page.waitForSelector('#mac-check .error');
  assert.match(await page.textContent('#mac-check'), /10 hex digits/);
  await page.fill('input[name=mac]', MAC);
  await page.waitForSelector('#mac-check .notice');
  assert.match(await page.textContent('#mac-check'), /✓ 00:15:65:12:34:56/);
  await page.fill('input[name=sip_user]', '201');
  await page.fill('input[name=sip_password]', 'sip-secret-201');
  await page.fill('input[name=registrar]', 'pbx.example.com');
  await page.fill('input[name=name]', 'Reception');
  await page.click('#add-form button[type=submit]');
  await page.waitForSelector(`#dev-${MAC_HEX}`);
  assert.match(await page.textContent(`#dev-${MAC_HEX} .phone-requests`), /Not requested yet/);
});

test('a simulated phone fetches its files: the row turns to Provisioned live, without a reload', async () => {
  await page.goto(base + '/ui/devices');
  await page.waitForSelector(`#dev-${MAC_HEX}`);
  await page.evaluate(() => { window.__noReload = true; });
  // Give the live feed a moment to connect before the phone boots.
  await page.waitForTimeout(500);
  const out = await phoneBoots(MAC);
  assert.match(out, /GET 001565123456\.cfg -> 200/);
  await page.waitForFunction((mac) => {
    const cell = document.querySelector(`#dev-${mac} .phone-requests`);
    return cell && cell.textContent.includes('Provisioned');
  }, MAC_HEX, { timeout: 15000 });
  assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was reloaded');
  assert.match(await page.textContent(`#dev-${MAC_HEX}`), /T46U/);
  assert.match(await page.textContent(`#dev-${MAC_HEX}`), /108\.86\.0\.90/);
  await shot('devices');
  await shot('devices-phone', 375);
});

test('device detail: the provisioning URL revealed and copied on demand, the first-boot 404 of -local.cfg not red, "–" for empty fields, Device Config as the CLI says it', async () => {
  await page.goto(base + `/ui/devices/${MAC_HEX}`);
  const facts = async () => page.$$eval('#device-facts dt', (dts) =>
    Object.fromEntries(dts.map((dt) => [dt.textContent.trim(), dt.nextElementSibling.textContent.trim()])));
  let f = await facts();
  // `device show` prints "Device Config: Config Received" for a standalone device.
  assert.equal(f['Device Config'], 'Config Received');
  assert.equal(f['Display name'], '–');
  // The secret stays hidden until asked for.
  const revealed = await (await fetch(base + `/api/v1/devices/${MAC_HEX}?reveal=true`,
    { headers: { authorization: `Bearer ${PASSWORD}` } })).json();
  const url = revealed.provisioning_url;
  const secret = url.match(/\/prov\/([^/]+)\/$/)[1];
  assert.ok(secret.length >= 16, url);
  assert.ok(!(await page.content()).includes(secret), 'the URL secret is on the page before Reveal');
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  await page.click('#prov-url-reveal');
  await page.waitForSelector('#prov-url');
  assert.equal((await page.textContent('#prov-url')).trim(), url);
  await page.click('#prov-url-copy');
  await page.waitForFunction(() => document.querySelector('#prov-url-copy-state').textContent.trim() !== '');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), url);
  assert.match(await page.textContent('#prov-url-copy-state'), /Copied/);
  // The phone asked for its -local.cfg (nobody changed a setting on it yet): 404, and normal.
  const local = page.locator('table.requests tr', { hasText: `${MAC_HEX}-local.cfg` }).first();
  await local.waitFor();
  assert.match(await local.textContent(), /404 not found/);
  assert.match(await local.textContent(), /normal/);
  assert.equal(await local.evaluate((tr) => tr.classList.contains('failed')), false, 'the 404 is red');
  // After a reload the URL is hidden again.
  await page.reload();
  assert.ok(!(await page.content()).includes(secret), 'the secret stays on the page');
});

test('change a setting: the next rendered file changes (detail page, then the phone)', async () => {
  await page.goto(base + `/ui/devices/${MAC_HEX}`);
  const before = await page.textContent('main');
  assert.ok(before.includes('sip-secret-201') === false, 'SIP password rendered');
  assert.match(before, /static\.auto_provision\.repeat\.minutes = 60/);
  await page.goto(base + '/ui/settings');
  await page.fill('input[name=update_interval_minutes]', '17');
  await page.click('#settings-form button[type=submit]');
  await page.waitForSelector('#settings-result .notice');
  await page.goto(base + `/ui/devices/${MAC_HEX}`);
  assert.match(await page.textContent('main'), /static\.auto_provision\.repeat\.minutes = 17/);
  await shot('device-detail');
});

test('RPS history shows the commands the RPS simulator answered, filterable by MAC and command', async () => {
  await page.goto(base + '/ui/rps');
  const text = await page.textContent('ol.rps-history');
  assert.match(text, /ADD_SERVER/);
  assert.match(text, /REDIRECT_DEVICE/);
  assert.ok(!(await page.content()).includes('browser-rps-secret'));
  await page.fill('input[name=mac]', MAC);
  await page.selectOption('select[name=command]', 'REDIRECT_DEVICE');
  await page.click('form.filters button[type=submit]');
  await page.waitForURL(/command=REDIRECT_DEVICE/);
  const rows = await page.$$eval('ol.rps-history li.entry', (lis) => lis.map((li) => li.textContent));
  assert.ok(rows.length >= 1);
  for (const r of rows) {
    assert.match(r, /REDIRECT_DEVICE/);
    assert.match(r, /00:15:65:12:34:56/);
    assert.match(r, /done/);
  }
  // Part of a MAC finds it too.
  await page.goto(base + '/ui/rps?mac=12:34');
  const part = await page.$$eval('ol.rps-history li.entry code.mac', (cs) => cs.map((c) => c.textContent));
  assert.ok(part.length >= 1 && part.every((m) => m === MAC), JSON.stringify(part));
  await page.goto(base + '/ui/rps');
  await shot('rps-history');
});

/** Whether the element's box is inside the viewport horizontally, and the page does not
 *  scroll sideways. */
async function fitsWidth(selector) {
  return page.$eval(selector, (el) => {
    const r = el.getBoundingClientRect();
    const doc = document.scrollingElement;
    return { left: r.left, right: r.right, width: window.innerWidth, scroll: doc.scrollWidth,
      inside: r.left >= 0 && r.right <= window.innerWidth && r.width > 0,
      noScroll: doc.scrollWidth <= window.innerWidth };
  });
}

test('RPS history: the answer to a failed command is on screen at 1,280 and 480 px, the parameters folded', async () => {
  const added = await fetch(base + '/api/v1/devices', {
    method: 'POST',
    headers: { authorization: `Bearer ${PASSWORD}`, 'content-type': 'application/json' },
    body: JSON.stringify({ mac: FOREIGN_MAC, sip_user: '299', sip_password: 'sip-secret-299',
      registrar: 'pbx.example.com', name: 'Owned by another RPS account' }),
  });
  assert.equal(added.status, 201);
  const failed = `ol.rps-history li.failed:has(code.mac:text("${FOREIGN_MAC}"))`;
  for (let i = 0; i < 40 && !(await page.$(failed)); i++) {
    await page.waitForTimeout(250);
    await page.goto(base + '/ui/rps');
  }
  await page.waitForSelector(failed);
  assert.match(await page.textContent(`${failed} .answer`), /added\.by\.other|forbidden/);
  assert.equal(await page.$eval(`${failed} details.params`, (d) => d.open), false, 'parameters not folded');
  for (const width of [1280, 480]) {
    await page.setViewportSize({ width, height: 860 });
    const fit = await fitsWidth(`${failed} .answer`);
    assert.ok(fit.inside, `answer outside the viewport at ${width} px: ${JSON.stringify(fit)}`);
    assert.ok(fit.noScroll, `the page scrolls sideways at ${width} px: ${JSON.stringify(fit)}`);
  }
  await shot('rps-history-narrow', 480);
  // The device page's RPS history too.
  await page.goto(base + `/ui/devices/${FOREIGN_MAC_HEX}`);
  for (const width of [1280, 480]) {
    await page.setViewportSize({ width, height: 860 });
    const fit = await fitsWidth('#device-rps li.failed .answer');
    assert.ok(fit.inside && fit.noScroll, `device page at ${width} px: ${JSON.stringify(fit)}`);
  }
  await page.setViewportSize({ width: 1280, height: 860 });
});

test('import a CSV with a bad row: per-row results, the good rows are added', async () => {
  await page.goto(base + '/ui/devices');
  await page.click('#import-panel summary');
  const csv = [
    'mac,sip_user,sip_password,registrar,name',
    '00:15:65:00:00:01,301,pw-301,pbx.example.com,Office 1',
    'not-a-mac,302,pw-302,pbx.example.com,Broken',
    '00:15:65:00:00:03,303,pw-303,pbx.example.com,Office 3',
  ].join('\n');
  await page.setInputFiles('#import-form input[type=file]', { name: 'devices.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.click('#import-form button[type=submit]');
  await page.waitForSelector('#import-result table');
  const result = await page.textContent('#import-result');
  assert.match(result, /2 imported, 1 rejected/);
  const failed = await page.$$eval('#import-result tr.failed', (trs) => trs.map((tr) => tr.textContent));
  assert.equal(failed.length, 1);
  assert.match(failed[0], /3/);
  assert.match(failed[0], /not-a-mac/);
  await page.goto(base + '/ui/devices');
  assert.ok(await page.$('#dev-001565000001'));
  assert.ok(await page.$('#dev-001565000003'));
});

test('Devices: the RPS column, the "not redirected" and "never fetched" filters, the filtered count', async () => {
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.goto(base + '/ui/devices');
  assert.match(await page.textContent(`#dev-${MAC_HEX} .rps-state`), /Redirected/);
  const foreign = await page.textContent(`#dev-${FOREIGN_MAC_HEX} .rps-state`);
  assert.match(foreign, /Refused/);
  // RPS's code in plain words, what to do about it; RPS's own text stays in the tooltip.
  assert.match(foreign, /Another RPS account holds this MAC/);
  const said = await page.getAttribute(`#dev-${FOREIGN_MAC_HEX} .rps-reason`, 'title');
  assert.match(said, /added\.by\.other|forbidden|override/);
  const total = Number((await page.textContent('#device-count')).match(/^\((\d+)\)$/)[1]);
  assert.ok(total >= 4, `total ${total}`);
  const shown = async () => page.$$eval('#device-rows tr[data-mac]', (trs) => trs.map((tr) => tr.dataset.mac));
  const countText = async () => (await page.textContent('#device-count')).trim();

  // The rows (and the count, out of band) are swapped in once the fragment arrived.
  const filterTo = async (value) => {
    await Promise.all([
      page.waitForResponse((r) => r.url().includes('/ui/devices/rows') && r.url().includes(`show=${value}`)),
      page.selectOption('#device-filter', value),
    ]);
    await page.waitForTimeout(200);
  };
  await filterTo('not_redirected');
  let macs = await shown();
  assert.ok(macs.includes(FOREIGN_MAC_HEX), `not redirected: ${macs}`);
  assert.ok(!macs.includes(MAC_HEX), `not redirected: ${macs}`);
  assert.equal(await countText(), `(${macs.length} of ${total})`);
  for (const mac of macs) {
    assert.doesNotMatch(await page.textContent(`#dev-${mac} .rps-state`), /Redirected/);
  }

  await filterTo('never_fetched');
  macs = await shown();
  assert.ok(!macs.includes(MAC_HEX), `never fetched: ${macs}`);
  assert.ok(macs.includes('001565000001') && macs.includes('001565000003'), `never fetched: ${macs}`);
  assert.equal(await countText(), `(${macs.length} of ${total})`);
  // Search and filter together, and the same through a link (no JavaScript needed).
  await page.fill('input[name=q]', '001565000001');
  await page.waitForFunction(() => document.querySelector('#device-count').textContent.trim().startsWith('(1 of'));
  assert.deepEqual(await shown(), ['001565000001']);
  await page.goto(base + '/ui/devices?show=never_fetched');
  assert.equal(await page.inputValue('#device-filter'), 'never_fetched');
  assert.deepEqual((await shown()).sort(), macs.sort());
  await shot('devices-filtered');
});

test('innovaphone: a phone added in myApps shows Config Received, its PBX side, and the flags after its fetch', async () => {
  // A simulated PBX connects to our App object URL; Users adds a phone for John Doe as Profile does.
  await start(SIM, ['innovaphone', '--app-url', `${base}/innovaphone-yealink`, '--password', INSTANCE_PASSWORD,
    '--add-phone', PBX_MAC], {}, /add phone \S+(?: via \S+)?: (ok|failed.*)/).then((m) => assert.equal(m[1], 'ok'));
  await page.goto(base + '/ui/devices');
  await page.waitForSelector(`#dev-${PBX_MAC_HEX}`);
  assert.match(await page.textContent(`#dev-${PBX_MAC_HEX}`), /Config Received/);
  assert.match(await page.textContent(`#dev-${PBX_MAC_HEX}`), /jdoe/);
  const out = await phoneBoots(PBX_MAC);
  assert.match(out, /GET 001565abcdef\.cfg -> 200/);
  await page.goto(base + `/ui/devices/${PBX_MAC_HEX}`);
  const panel = page.locator('#innovaphone');
  await panel.waitFor();
  assert.match(await panel.textContent(), /John Doe \(jdoe\)/);
  assert.match(await panel.textContent(), /connected/);
  // The user object is edited right after the fetch; reload until it shows.
  for (let i = 0; i < 30 && !/Media Relay/.test(await panel.textContent()); i++) {
    await page.waitForTimeout(300);
    await page.reload();
  }
  assert.match(await panel.textContent(), /Media Relay (on|off), TLS only (on|off), Reverse Proxy (on|off)/);
  await shot('device-innovaphone');
  await page.goto(base + '/ui/settings');
  assert.match(await page.textContent('#pbx-settings'), /master \(example\.com/);
});

test('Changes: a settings change and a device edit are listed under who made them', async () => {
  // A device edit in the UI (admin password session).
  await page.goto(base + `/ui/devices/${MAC_HEX}/edit`);
  await page.fill('input[name=display_name]', 'Front desk');
  await page.fill('input[name=sip_password]', 'sip-secret-edited-201');
  await page.click('form.panel button[type=submit]');
  await page.waitForURL(new RegExp(`/ui/devices/${MAC_HEX}$`));
  // A settings change through the API.
  const r = await fetch(base + '/api/v1/settings', {
    method: 'PATCH',
    headers: { authorization: `Bearer ${PASSWORD}`, 'content-type': 'application/json' },
    body: JSON.stringify({ update_interval_minutes: 23 }),
  });
  assert.equal(r.status, 200);
  await page.goto(base + '/ui/changes');
  const entries = await page.$$eval('ol.changes li.entry', (lis) => lis.map((li) => li.textContent.replace(/\s+/g, ' ')));
  const find = (re) => entries.find((e) => re.test(e));
  const edit = find(/Device edited .*00:15:65:12:34:56/);
  assert.ok(edit, `no device edit in ${JSON.stringify(entries)}`);
  assert.match(edit, /Admin password/);
  assert.match(edit, /sip_password/);
  assert.match(edit, /display_name/);
  const uiSettings = find(/Settings changed .*Admin password .*update_interval_minutes/);
  assert.ok(uiSettings, `no UI settings change in ${JSON.stringify(entries)}`);
  const apiSettings = find(/Settings changed .*API .*update_interval_minutes/);
  assert.ok(apiSettings, `no API settings change in ${JSON.stringify(entries)}`);
  const users = find(/Device added .*00:15:65:ab:cd:ef/);
  assert.ok(users && /innovaphone PBX/.test(users) && /jdoe/.test(users), `Users' phone: ${users}`);
  const content = await page.content();
  for (const secret of ['sip-secret-edited-201', 'sip-secret-201', 'browser-rps-secret']) {
    assert.ok(!content.includes(secret), `${secret} shown in Changes`);
  }
  await shot('changes');
  await shot('changes-narrow', 480);
  const fit = await fitsWidth('ol.changes');
  assert.ok(fit.inside && fit.noScroll, `Changes at 480 px: ${JSON.stringify(fit)}`);
  await page.setViewportSize({ width: 1280, height: 860 });
  // The device page has its own Changes section.
  await page.goto(base + `/ui/devices/${MAC_HEX}`);
  assert.match(await page.textContent('#device-changes'), /Device edited/);
  assert.match(await page.textContent('#device-changes'), /Device added/);
});

/** RPS history entries of `command` (the JSON API's total). */
async function rpsHistoryTotal(command) {
  const r = await fetch(base + `/api/v1/rps/history?command=${command}&limit=1`,
    { headers: { authorization: `Bearer ${PASSWORD}` } });
  assert.equal(r.status, 200);
  return (await r.json()).total;
}

test('settings that reach every phone: all errors at once, no port guessed, one question with the count, the result on top', async () => {
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.goto(base + '/ui/settings');
  const url = await page.inputValue('input[name=public_base_url]');
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  // HTTPS ticked while the URL is http://, and a bad time zone: both errors, nothing saved.
  await page.check('input[name=provisioning_scheme][value=https]');
  await page.fill('input[name=time_zone]', 'Mars/Olympus_Mons');
  await page.click('#settings-form button[type=submit]');
  await page.waitForSelector('#settings-errors');
  const fields = await page.$$eval('#settings-errors li', (lis) => lis.map((li) => li.dataset.field));
  assert.deepEqual(fields.sort(), ['provisioning_scheme', 'time_zone']);
  assert.match(await page.textContent('#settings-errors'), /HTTPS is chosen but the public base URL starts with http:\/\//);
  // The result is at the top of the page, above the form, and scrolled into view.
  const tops = await page.evaluate(() => ({
    result: document.querySelector('#settings-result').getBoundingClientRect().top,
    form: document.querySelector('#settings-form').getBoundingClientRect().top,
  }));
  assert.ok(tops.result < tops.form && tops.result >= 0 && tops.result < 860, JSON.stringify(tops));
  await page.reload();
  assert.equal(await page.inputValue('input[name=public_base_url]'), url, 'the base URL was rewritten');
  // A new RPS server name re-redirects every phone: asked first, with the count.
  const devices = (await (await fetch(base + '/api/v1/devices?limit=1',
    { headers: { authorization: `Bearer ${PASSWORD}` } })).json()).total;
  assert.ok(devices >= 3, `devices: ${devices}`);
  const redirectsBefore = await rpsHistoryTotal('REDIRECT_DEVICE');
  await page.fill('input[name=rps_server_name]', 'browser-renamed');
  await page.click('#settings-form button[type=submit]');
  await page.waitForSelector('#settings-confirm');
  const question = await page.textContent('#settings-confirm');
  assert.match(question, /browser-renamed/);
  assert.match(question, /ADD SERVER/);
  assert.match(question, new RegExp(`all ${devices} phones are deregistered and redirected again`));
  await page.waitForTimeout(1500);
  assert.equal(await rpsHistoryTotal('REDIRECT_DEVICE'), redirectsBefore, 'redirected before the answer');
  const server = await fetch(base + '/api/v1/settings', { headers: { authorization: `Bearer ${PASSWORD}` } });
  assert.notEqual((await server.json()).rps_server_name, 'browser-renamed', 'saved before the answer');
  await shot('settings-confirm');
  await page.click('#settings-confirm-apply');
  await page.waitForSelector('#settings-saved');
  assert.match(await page.textContent('#settings-saved'), /Settings saved/);
  assert.match(await page.textContent('#settings-saved'), new RegExp(`all ${devices} phones`));
  // The worker re-sends every phone's redirect.
  let after = 0;
  for (let i = 0; i < 80 && after < redirectsBefore + devices; i++) {
    await page.waitForTimeout(250);
    after = await rpsHistoryTotal('REDIRECT_DEVICE');
  }
  assert.ok(after >= redirectsBefore + devices, `redirects ${redirectsBefore} -> ${after}, devices ${devices}`);
});

/** Sideways overflow of the page and of each table's scroll box, at the current size. */
async function overflow() {
  return page.evaluate(() => ({
    page: document.documentElement.scrollWidth - window.innerWidth,
    tables: [...document.querySelectorAll('.table-wrap')].map((w) => w.scrollWidth - w.clientWidth),
    wide: [...document.querySelectorAll('body *')].filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
      .slice(0, 5).map((el) => el.tagName + (el.id ? '#' + el.id : '') + '.' + el.className),
  }));
}

const PAGES = ['/ui/devices', `/ui/devices/${MAC_HEX}`, `/ui/devices/${FOREIGN_MAC_HEX}`, '/ui/rps', '/ui/changes', '/ui/settings'];

test('375 px, English and German: no page scrolls sideways, and the tables fit', async () => {
  for (const lang of ['en', 'de']) {
    await page.goto(base + `/ui/lang/${lang}`);
    await page.setViewportSize({ width: 375, height: 800 });
    for (const p of PAGES) {
      await page.goto(base + p);
      await page.waitForLoadState('networkidle');
      const o = await overflow();
      assert.ok(o.page <= 0, `${lang} ${p} scrolls sideways by ${o.page} px: ${JSON.stringify(o.wide)}`);
      for (const t of o.tables) assert.ok(t <= 0, `${lang} ${p}: a table scrolls by ${t} px`);
    }
  }
  await page.goto(base + '/ui/lang/de');
  await page.goto(base + `/ui/devices/${MAC_HEX}`);
  await shot('device-detail-phone', 375);
  await page.goto(base + '/ui/lang/en');
  await page.setViewportSize({ width: 1280, height: 860 });
});

test('German at 1,100 px (a myApps pane): the headers wrap, no table scrolls sideways, no English status words', async () => {
  await page.goto(base + '/ui/lang/de');
  await page.setViewportSize({ width: 1100, height: 800 });
  for (const p of PAGES) {
    await page.goto(base + p);
    await page.waitForLoadState('networkidle');
    const o = await overflow();
    assert.ok(o.page <= 0, `${p} scrolls sideways by ${o.page} px: ${JSON.stringify(o.wide)}`);
    for (const t of o.tables) assert.ok(t <= 0, `${p}: a table scrolls by ${t} px`);
  }
  await page.goto(base + '/ui/devices');
  const text = await page.textContent('main');
  for (const english of ['Redirected', 'Refused', 'Not requested yet', 'Provisioned', 'CSV import', 'Import CSV', 'Config Received']) {
    assert.ok(!text.includes(english), `English "${english}" on the German devices page`);
  }
  assert.match(await page.textContent('table.devices thead'), /Benutzer/);
  assert.match(text, /CSV-Import/);
  await page.goto(base + `/ui/devices/${MAC_HEX}`);
  const detail = await page.textContent('main');
  for (const english of [' served', ' not found', 'normal: the phone']) {
    assert.ok(!detail.includes(english), `English "${english}" on the German device page`);
  }
  await page.goto(base + '/ui/rps');
  const rpsText = await page.textContent('ol.rps-history');
  for (const english of ['>done<', 'refused', 'already registered']) {
    assert.ok(!rpsText.includes(english), `English "${english}" in the German RPS history`);
  }
  await page.goto(base + '/ui/lang/en');
  await page.setViewportSize({ width: 1280, height: 860 });
});

test('German: the switch link sets the language', async () => {
  await page.goto(base + '/ui/devices');
  await page.click('.menu summary');
  await page.click('.menu-items a[href="ui/lang/de"]');
  await page.waitForSelector('text=Geräte');
  assert.match(await page.textContent('table.devices thead'), /Letzte Konfigurationsanfrage/);
  await page.goto(base + '/ui/lang/en');
});

test('the provider adds a tenant in the Tenants view; its own UI under /<domain>/<name>/: sign-in, adding a phone, navigation and sign-out stay on its site; the default tenant\'s phones are not there', async () => {
  await page.goto(base + '/ui/devices');
  await page.click('.menu summary');
  await page.click('.menu-items a[href="ui/tenants"]');
  await page.waitForURL(base + '/ui/tenants');
  await page.fill('#tenant-form input[name=domain]', 'Tenant.Example.com');
  await page.click('#tenant-form button[type=submit]');
  await page.waitForSelector('#tenant-password');
  const tenant = { admin_password: (await page.textContent('#tenant-password')).trim() };
  assert.match(await page.textContent('#tenants'), /Added tenant\.example\.com\/yealink/);
  await shot('tenants');
  const site = base + '/tenant.example.com/yealink';
  for (let i = 0; i < 150; i++) {
    const r = await fetch(site + '/healthz').catch(() => null);
    if (r && r.ok) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const ctx = await browser.newContext({ locale: 'en-US' });
  const tp = await ctx.newPage();
  await tp.goto(site + '/ui/devices');
  assert.ok(tp.url().startsWith(site + '/ui/login'), tp.url());
  await tp.fill('#password', tenant.admin_password);
  await tp.click('button[type=submit]');
  await tp.waitForURL(site + '/ui/devices');
  // The default tenant's phone is not this tenant's.
  assert.equal(await tp.locator(`#dev-${MAC_HEX}`).count(), 0);
  await tp.fill('input[name=mac]', '00:15:65:77:66:55');
  await tp.fill('input[name=sip_user]', '501');
  await tp.fill('input[name=sip_password]', 'sip-secret-501');
  await tp.fill('input[name=registrar]', 'pbx.tenant.example.com');
  await tp.click('#add-form button[type=submit]');
  await tp.waitForSelector('#dev-001565776655');
  await tp.click('a[href="ui/rps"]');
  await tp.waitForURL(site + '/ui/rps');
  await tp.click('.menu summary');
  // The provider's view is not a tenant's.
  assert.equal(await tp.locator('.menu-items a[href="ui/tenants"]').count(), 0);
  await tp.click('.menu-items a[href="ui/settings"]');
  await tp.waitForURL(site + '/ui/settings');
  await tp.click('.menu summary');
  await tp.click('text=Sign out');
  await tp.waitForURL(site + '/ui/login');
  await ctx.close();
  // And the tenant's phone is not the default tenant's.
  await page.goto(base + '/ui/devices');
  assert.equal(await page.locator('#dev-001565776655').count(), 0);
});
