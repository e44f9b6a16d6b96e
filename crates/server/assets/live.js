// Live updates: the server sends the MAC of a device whose phone request was just recorded
// (server-sent events from /ui/events); a row of that device on this page is fetched again and
// swapped in place, so "Phone Requests" turns to Provisioned without a reload.
(function () {
  'use strict';
  if (!document.getElementById('device-rows') || !window.EventSource) return;
  const source = new EventSource('ui/events');
  source.addEventListener('device', function (e) {
    const row = document.getElementById('dev-' + e.data);
    if (row && window.htmx) {
      htmx.ajax('GET', 'ui/devices/' + e.data + '/row', { target: row, swap: 'outerHTML' });
    }
  });
  // Missed events (the page fell behind): reload the visible rows.
  source.addEventListener('reload', function () {
    document.querySelectorAll('#device-rows tr[data-mac]').forEach(function (row) {
      htmx.ajax('GET', 'ui/devices/' + row.dataset.mac + '/row', { target: row, swap: 'outerHTML' });
    });
  });
})();

// "Copy" beside a revealed value (the device page's provisioning URL): to the clipboard where
// the browser allows it (HTTPS or loopback), else the text is selected to copy by hand.
(function () {
  'use strict';
  document.addEventListener('click', function (e) {
    const button = e.target.closest && e.target.closest('[data-copy]');
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    const state = document.getElementById(button.id + '-state');
    if (!source) return;
    const say = function (text) { if (state) state.textContent = text; };
    const byHand = function () {
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      say(button.dataset.copyFailed || '');
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.textContent).then(function () {
        say(button.dataset.copied || '');
      }, byHand);
    } else {
      byHand();
    }
  });
})();
