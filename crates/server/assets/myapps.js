// The app page myApps loads for our App object (templates/myapps.html, docs/innovaphone.md).
// It logs in on our AppWebsocket the way innovaphone's Connection.js does (13r1-SDK
// web1/appwebsocket/innovaphone.appwebsocket.Connection.js):
//   AppChallenge -> framed: post {mt:"getLogin", app, challenge} to myApps, which posts back
//   {mt:"Login", app, domain, sip, guid, dn, info, digest, key, pbxObj}; top-level: the App
//   object password, digest computed here (sip = app, guid = 32 zeros, dn = "Admin", no domain)
//   -> AppLogin -> AppLoginResult. Then it asks for a UI session ("UiSession", ours) and posts
//   its id to /ui/myapps/enter, which sets the cookie and opens the Devices tab.
(function () {
  'use strict';
  var root = document.getElementById('myapps');
  if (!root) return;
  var cfg = root.dataset;
  var framed = window.self !== window.top;
  var origins = [];
  try { origins = JSON.parse(cfg.origins || '[]'); } catch (e) { origins = []; }
  var status = document.getElementById('myapps-status');
  var passwordForm = document.getElementById('myapps-password');
  var enterForm = document.getElementById('myapps-enter');
  var ws = null;
  var challenge = null;
  var done = false;

  function say(text) {
    status.textContent = text;
    status.className = 'error';
  }

  function send(obj) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
  }

  function enter(token) {
    done = true;
    enterForm.elements.token.value = token;
    enterForm.elements.framed.value = framed ? '1' : '';
    if (ws) ws.close();
    enterForm.submit();
  }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ('0' + b.toString(16)).slice(-2);
    }).join('');
  }

  function sha256(text) {
    return window.crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)).then(hex);
  }

  // Opened outside myApps: innovaphone apps ask for the App object's password. The socket is
  // opened on submit, so the server's login deadline does not run while the admin types.
  var password = null;
  function askPassword() {
    status.hidden = true;
    passwordForm.hidden = false;
    var input = document.getElementById('app-password');
    input.focus();
    passwordForm.onsubmit = function (ev) {
      ev.preventDefault();
      if (!window.crypto || !window.crypto.subtle) { say(cfg.noCrypto); return; }
      password = input.value;
      input.value = '';
      passwordForm.hidden = true;
      status.hidden = false;
      connect();
    };
  }

  function passwordLogin() {
    var zeros = '00000000000000000000000000000000';
    var app = cfg.app;
    var secret = password;
    password = null;
    sha256([app, '', app, zeros, 'Admin', challenge, secret].join(':')).then(function (digest) {
      send({ mt: 'AppLogin', app: app, domain: '', sip: app, guid: zeros, dn: 'Admin', digest: digest });
    });
  }

  function onMessage(m) {
    switch (m.mt) {
      case 'AppChallengeResult':
        challenge = m.challenge;
        if (framed) {
          // Connection.js posts with target "*": the challenge is no secret; the answer is
          // checked below (origin and source).
          window.parent.postMessage(JSON.stringify({ mt: 'getLogin', app: cfg.name, challenge: challenge }), '*');
        } else if (password !== null) {
          passwordLogin();
        }
        break;
      case 'AppLoginResult':
        if (m.ok) send({ mt: 'UiSession' });
        else { done = true; say(cfg.failed); }
        break;
      case 'UiSessionResult':
        if (m.token) enter(m.token);
        else { done = true; say(cfg.refused); }
        break;
      default:
        break;
    }
  }

  // myApps' answer to getLogin. Only from the frame's parent, on an origin we were told is the
  // PBX's (innovaphone.frame_origins, the PBX's DNS name).
  window.addEventListener('message', function (e) {
    if (!framed || e.source !== window.parent || typeof e.data !== 'string') return;
    if (origins.indexOf(e.origin) < 0) {
      console.warn('yealink-prov: message from ' + e.origin + ' ignored (not a PBX origin)');
      return;
    }
    var m;
    try { m = JSON.parse(e.data); } catch (err) { return; }
    if (!m || m.mt !== 'Login') return;
    // As Connection.js: a Login addressed to another app object is not ours.
    if (m.pbxObj && m.pbxObj !== cfg.name) return;
    // The session key (m.key) is not needed: the UI does not use encrypted messages.
    send({ mt: 'AppLogin', app: m.app, domain: m.domain, sip: m.sip, guid: m.guid, dn: m.dn,
      info: m.info, digest: m.digest, pbxObj: m.pbxObj });
  });

  function connect() {
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + cfg.ws;
    ws = new WebSocket(url);
    ws.onopen = function () { send({ mt: 'AppChallenge' }); };
    ws.onmessage = function (e) {
      var m;
      try { m = JSON.parse(e.data); } catch (err) { return; }
      if (m && typeof m.mt === 'string') onMessage(m);
    };
    ws.onclose = function () { if (!done) say(cfg.closed); };
  }

  // The origin of the page that frames us: ancestorOrigins where the browser has it, else what
  // the server read from the Referer, else our referrer.
  function parentOrigin() {
    if (location.ancestorOrigins && location.ancestorOrigins.length) return location.ancestorOrigins[0];
    if (cfg.refusedOrigin) return cfg.refusedOrigin;
    try { return document.referrer ? new URL(document.referrer).origin : ''; } catch (e) { return ''; }
  }

  if (framed) {
    // As innovaphone's lib1 start() does once loaded (13r1-SDK web1/lib1/innovaphone.lib1.js).
    window.parent.postMessage(JSON.stringify({ mt: 'Alive' }), '*');
    var parent = parentOrigin();
    if (cfg.refusedOrigin || (parent && parent !== location.origin && origins.indexOf(parent) < 0)) {
      // The UI behind the sign-in would be refused in this frame: say why, and what fixes it.
      done = true;
      say(cfg.frameRefused.split('{origin}').join(parent || cfg.refusedOrigin));
    } else {
      connect();
    }
  } else {
    askPassword();
  }
})();
