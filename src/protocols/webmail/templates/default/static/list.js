// Postern WebMail: the message list's live part. New mail, flag changes and removals arrive as
// server-sent events (/events?f=<folder>) and are applied to the open list without a reload.
// Rows are built with DOM calls (textContent), never from HTML strings.
(function () {
  'use strict';
  var table = document.getElementById('messages');
  if (!table || typeof EventSource !== 'function') return;
  var folder = table.getAttribute('data-folder');
  var live = table.getAttribute('data-live') === '1';
  var tbody = table.tBodies[0];
  var es = new EventSource('/events?f=' + encodeURIComponent(folder));

  function rowOf(uid) { return tbody.querySelector('tr.msg[data-uid="' + Number(uid) + '"]'); }
  function cell(cls, text) { var td = document.createElement('td'); td.className = cls; if (text) td.textContent = text; return td; }
  function notice(text) {
    var main = document.getElementById('main');
    var p = main.querySelector('p.notice.live');
    if (!p) { p = document.createElement('p'); p.className = 'notice live'; p.setAttribute('role', 'status'); main.insertBefore(p, main.firstChild); }
    p.textContent = text;
  }
  function setFlags(tr, flags) {
    tr.classList.toggle('unseen', flags.indexOf('\\Seen') < 0);
    tr.classList.toggle('flagged', flags.indexOf('\\Flagged') >= 0);
    tr.classList.toggle('answered', flags.indexOf('\\Answered') >= 0);
    var mark = tr.querySelector('.flag-mark');
    if (mark) mark.textContent = flags.indexOf('\\Flagged') >= 0 ? '\u2605' : '';
  }
  function buildRow(d) {
    var r = d.row;
    var tr = document.createElement('tr');
    tr.className = 'msg new';
    tr.setAttribute('data-uid', String(r.uid));
    var sel = cell('sel');
    var box = document.createElement('input');
    box.type = 'checkbox'; box.name = 'uid'; box.value = String(r.uid); box.setAttribute('aria-label', 'Select message');
    sel.appendChild(box);
    var flag = cell('flag');
    var mark = document.createElement('span'); mark.className = 'flag-mark'; mark.title = 'Flagged'; flag.appendChild(mark);
    var from = cell('from', r.from || r.fromAddress || '(unknown sender)'); from.title = r.fromAddress || '';
    var subj = cell('subj');
    var a = document.createElement('a'); a.className = 'subject'; a.href = d.url; a.textContent = r.subject || '(no subject)';
    subj.appendChild(a);
    if (r.hasAttachment) {
      var clip = document.createElement('span'); clip.className = 'attachment-mark'; clip.title = 'Has attachments';
      var label = document.createElement('span'); label.className = 'visually-hidden'; label.textContent = '(attachment)'; clip.appendChild(label);
      subj.appendChild(document.createTextNode(' ')); subj.appendChild(clip);
    }
    var date = cell('date'); var t = document.createElement('time'); t.dateTime = new Date(r.date).toISOString(); t.textContent = d.dateText; date.appendChild(t);
    var size = cell('size', d.sizeText);
    [sel, flag, from, subj, date, size].forEach(function (c) { tr.appendChild(c); });
    var flags = [];
    if (r.seen) flags.push('\\Seen');
    if (r.flagged) flags.push('\\Flagged');
    if (r.answered) flags.push('\\Answered');
    setFlags(tr, flags);
    return tr;
  }

  es.addEventListener('exists', function (ev) {
    var d = JSON.parse(ev.data);
    if (rowOf(d.uid)) return;
    if (live) {
      tbody.insertBefore(buildRow(d), tbody.firstChild);
      var empty = document.querySelector('p.empty'); if (empty) empty.remove();
    } else notice('New mail has arrived; reload the first page to see it.');
  });
  es.addEventListener('flags', function (ev) {
    var d = JSON.parse(ev.data);
    var tr = rowOf(d.uid);
    if (tr) setFlags(tr, d.flags);
  });
  es.addEventListener('expunge', function (ev) {
    var tr = rowOf(JSON.parse(ev.data).uid);
    if (tr) tr.remove();
  });
  es.addEventListener('counts', function (ev) {
    var d = JSON.parse(ev.data);
    var links = document.querySelectorAll('#folders a[data-folder]');
    for (var i = 0; i < links.length; i++) {
      if (links[i].getAttribute('data-folder') !== d.folder) continue;
      var span = links[i].querySelector('span.unread');
      if (d.unseen > 0) {
        if (!span) { span = document.createElement('span'); span.className = 'unread'; links[i].appendChild(document.createTextNode(' ')); links[i].appendChild(span); }
        span.textContent = String(d.unseen);
      } else if (span) span.remove();
    }
  });
  es.addEventListener('folders', function () { notice('Folders have changed; reload to see them.'); });
  es.addEventListener('resync', function () { notice('The list has changed; reload to see it.'); });
  window.addEventListener('pagehide', function () { es.close(); });
})();
