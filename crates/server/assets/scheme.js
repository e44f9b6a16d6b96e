// The light or dark scheme myApps asked for (kept for this tab by the app page, myapps.js),
// and later changes myApps posts ("SetScheme", as innovaphone's lib1 start() handles them).
(function () {
  'use strict';
  var root = document.documentElement;
  try {
    var s = window.sessionStorage.getItem('yp_scheme');
    if (s === 'dark' || s === 'light') root.setAttribute('data-scheme', s);
  } catch (e) { /* storage blocked: stay light */ }
  if (window.self === window.top) return;
  window.addEventListener('message', function (e) {
    // Only the frame's parent (myApps) may change it; a colour is all it can change.
    if (e.source !== window.parent || typeof e.data !== 'string') return;
    var m;
    try { m = JSON.parse(e.data); } catch (err) { return; }
    if (m && m.mt === 'SetScheme' && (m.scheme === 'dark' || m.scheme === 'light')) {
      root.setAttribute('data-scheme', m.scheme);
      try { window.sessionStorage.setItem('yp_scheme', m.scheme); } catch (err) { /* ignore */ }
    }
  });
})();
