// The simulated myApps client for the browser tests (docs/innovaphone.md, "The admin app in
// myApps"): a page on another origin that frames our app page and answers its getLogin the way
// myApps does, computing the AppLogin digest with the App object password itself (as the PBX
// would), in its own code:
//   sha256(app:domain:sip:guid:dn:JSON.stringify(info):challenge:password)
// (13r1-SDK doc/appwebsocket/myApps.htm, AppGetLoginResult), then posting back
// {mt:"Login", app, domain, sip, guid, dn, info, digest, key, pbxObj}.

import http from 'node:http';
import net from 'node:net';

export const APP = 'innovaphone-yealink';
export const APP_OBJECT = 'yealink';

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export async function waitForHealth(url) {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(url + '/healthz');
      if (r.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not become healthy');
}

/** The simulated myApps client: a frame for the app and the getLogin answer. */
export function myAppsPage(appUrl, password) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>myApps</title>
<style>
  body { margin: 0; display: flex; height: 100vh; font-family: sans-serif; background: #2b2b2b; }
  nav { width: 180px; background: #1e1e1e; color: #ddd; padding: 16px; box-sizing: border-box; }
  nav b { display: block; font-size: 20px; margin-bottom: 24px; color: #fff; }
  nav div { padding: 8px 0; } nav .on { color: #7bc3ff; }
  iframe { flex: 1; border: 0; background: #fff; }
</style></head><body>
<nav><b>myApps</b><div>Calls</div><div>Chats</div>
<div class="on"><img id="tile" alt="" width="50" height="50" src="${appUrl.split('.htm')[0]}.png"> Yealink</div>
<div>Users Admin</div></nav>
<iframe id="app" src="${appUrl}"></iframe>
<script>
const appOrigin = new URL(${JSON.stringify(appUrl)}).origin;
const PASSWORD = ${JSON.stringify(password)};
window.__getLogins = [];
window.__alive = 0;
// lib1's start() posts {mt:"Alive"} to its parent once the app is loaded.
window.addEventListener('message', (e) => {
  if (e.origin !== appOrigin) return;
  try { if (JSON.parse(e.data).mt === 'Alive') window.__alive++; } catch (err) { /* not ours */ }
});
async function sha256(text) {
  const d = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(d)).map((b) => b.toString(16).padStart(2, '0')).join('');
}
window.addEventListener('message', async (e) => {
  if (e.origin !== appOrigin) return;
  const m = JSON.parse(e.data);
  if (m.mt !== 'getLogin') return;
  window.__getLogins.push(m);
  // What the PBX signs for John Doe, to whom the App object ${APP_OBJECT} is assigned.
  const login = { app: ${JSON.stringify(APP)}, domain: 'example.com', sip: 'jdoe',
    guid: '0123456789abcdef0123456789abcdef', dn: 'John Doe',
    info: { appobj: m.app, appdn: 'Yealink', appurl: appOrigin + '/${APP}', pbx: 'master', cn: 'John Doe' } };
  const text = [login.app, login.domain, login.sip, login.guid, login.dn, JSON.stringify(login.info),
    m.challenge, PASSWORD].join(':');
  const digest = await sha256(text);
  const key = await sha256('innovaphoneAppSessionKey:' + m.challenge + ':' + PASSWORD);
  e.source.postMessage(JSON.stringify({ mt: 'Login', ...login, digest, key, pbxObj: m.app }), e.origin);
});
</script></body></html>`;
}

/** Serves the simulated myApps page on http://localhost:<port>/, framing the app at
 *  `appBase()` (`?wrong=1`: a wrong password; `lang`, `scheme`: passed to the app as myApps
 *  does); the server is added to `servers` for the caller to close. */
export async function startMyApps({ appBase, password: instancePassword, servers }) {
  const port = await freePort();
  const srv = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://localhost');
    const password = u.searchParams.get('wrong') ? 'not-the-app-password' : instancePassword;
    const lang = u.searchParams.get('lang') || 'en';
    const scheme = u.searchParams.get('scheme') || 'light';
    // myApps loads the App object URL + ".htm" with these arguments (lib1 start()).
    const appUrl = `${appBase()}/${APP}.htm?lang=${lang}&scheme=${scheme}&name=${APP_OBJECT}`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(myAppsPage(appUrl, password));
  });
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  servers.push(srv);
  return `http://localhost:${port}`;
}

/** The app's frame, once it shows `urlPart`. */
export async function appFrame(page, urlPart) {
  for (let i = 0; i < 100; i++) {
    const f = page.frames().find((fr) => fr !== page.mainFrame() && fr.url().includes(urlPart));
    if (f) return f;
    await page.waitForTimeout(100);
  }
  throw new Error('no frame at ' + urlPart + '; frames: ' + page.frames().map((f) => f.url()).join(', '));
}
