// WebAdmin dashboard: the services table and the supervision tree, live from /events
// (server-sent events; each `status` event carries both fragments, rendered by the server).
(function () {
  'use strict';
  var live = document.getElementById('live');
  var tree = document.getElementById('tree-live');
  var services = document.getElementById('services-live');
  if (!window.EventSource || !tree || !services) return;
  var es = new EventSource('/events');
  es.addEventListener('status', function (ev) {
    var d = JSON.parse(ev.data);
    tree.innerHTML = d.tree;
    services.innerHTML = d.services;
    live.textContent = 'live · #' + d.seq + ' · ' + new Date(d.at).toLocaleTimeString();
    live.className = 'live on';
    document.body.setAttribute('data-seq', String(d.seq));
  });
  es.addEventListener('unavailable', function () { live.textContent = 'status unavailable'; live.className = 'live off'; });
  es.onerror = function () {
    // closed for good (the session ended: /events answered with the login page): say so
    live.textContent = es.readyState === EventSource.CLOSED ? 'not live: reload the page (log in again)' : 'reconnecting…';
    live.className = 'live off';
  };
})();
