// The light or dark scheme myApps asked for: the `yp_scheme` cookie set at the myApps sign-in
// (/ui/myapps/enter; partitioned in myApps' frame, where third-party storage is blocked), and
// later changes myApps posts ("SetScheme", as innovaphone's lib1 start() handles them).
(function () {
  'use strict';
  var root = document.documentElement;
  var m = /(?:^|;\s*)yp_scheme=(dark|light)(?:;|$)/.exec(document.cookie);
  if (m) root.setAttribute('data-scheme', m[1]);
  if (window.self === window.top) return;
  window.addEventListener('message', function (e) {
    // Only the frame's parent (myApps) may change it; a colour is all it can change.
    if (e.source !== window.parent || typeof e.data !== 'string') return;
    var msg;
    try { msg = JSON.parse(e.data); } catch (err) { return; }
    if (msg && msg.mt === 'SetScheme' && (msg.scheme === 'dark' || msg.scheme === 'light')) {
      root.setAttribute('data-scheme', msg.scheme);
      document.cookie = 'yp_scheme=' + msg.scheme +
        '; Path=' + new URL('ui', document.baseURI).pathname +
        '; Max-Age=31536000; Secure; SameSite=None; Partitioned';
    }
  });
})();
