// Tracking page: keeps the server-rendered state live. Polls GET /api/v1/tokens/{id} with
// If-None-Match (a 304 costs almost nothing), backing off from 5 s to 30 s while nothing
// changes and never waiting longer than the server's poll_after_seconds while the patient
// is in the queue. Pauses while offline and refreshes as soon as the phone is back online.
// Every value from the server is written with textContent.
(function () {
  'use strict';
  var root = document.getElementById('track');
  if (!root) return;
  var T = JSON.parse(root.getAttribute('data-i18n'));
  var id = root.getAttribute('data-token');
  var etag = root.getAttribute('data-etag');
  var state = JSON.parse(root.getAttribute('data-state'));
  var MIN = 5, MAX = 30;
  // Tests (and a curious developer) may ask for faster polling: ?poll=1..5 seconds at most.
  var m = /[?&]poll=(\d+)/.exec(location.search);
  var cap = m ? Math.min(5, Math.max(1, +m[1])) : 0;
  var backoff = MIN, timer = null, inflight = false;
  var seenKey = 'qlink_overtaken_seen_' + id;
  // The room is named once called, in a clinic with several rooms.
  var nameRoom = root.hasAttribute('data-name-room');
  // Times of day read on the clinic's clock, in the page language's words (the server's
  // Lang::clock does the same for the first render).
  var tz = root.getAttribute('data-timezone') || undefined;
  var reminderTouched = false;

  function $(x) { return document.getElementById(x); }
  function fmt(s, args) {
    return String(s).replace(/\{(\w+)\}/g, function (all, k) { return k in args ? String(args[k]) : all; });
  }
  function setText(x, s) { $(x).textContent = s; }
  function clock(when) {
    var d = new Date(when), h = d.getHours(), mi = d.getMinutes();
    try {
      new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
        .formatToParts(d).forEach(function (p) {
          if (p.type === 'hour') h = +p.value % 24;
          if (p.type === 'minute') mi = +p.value;
        });
    } catch (e) { /* an old browser: the phone's own clock */ }
    return fmt(T.clock, { hour: h % 12 === 0 ? 12 : h % 12, minute: (mi < 10 ? '0' : '') + mi, half: h < 12 ? T.clock_am : T.clock_pm });
  }
  function show(x, on) { $(x).hidden = !on; }
  function live(st) { return st === 'WAITING' || st === 'SERVING'; }

  // How many overtakings the patient already dismissed survives a reload or reopening the
  // link from WhatsApp; only newer ones are shown again.
  function seen() {
    try { return +(localStorage.getItem(seenKey) || 0); } catch (e) { return 0; }
  }
  function setSeen(n) {
    try { localStorage.setItem(seenKey, String(n)); } catch (e) { /* private mode */ }
  }

  var TITLES = { WAITING: T.st_waiting, SERVING: T.st_serving, SERVED: T.st_served, SKIPPED: T.st_skipped, CANCELLED: T.st_cancelled };
  var BODIES = { SERVED: T.st_served_body, SKIPPED: T.st_skipped_body, CANCELLED: T.st_cancelled_body };

  function aheadText(n) {
    if (n === null || n <= 0) return T.you_are_next;
    if (n === 1) return T.one_ahead;
    return fmt(T.people_ahead, { n: n });
  }

  function render(s, first) {
    var st = s.status, waiting = st === 'WAITING', served = st === 'SERVED';
    var before = state.status;

    // The server counts who was put ahead (overtaken_by); the page only says so.
    if (seen() > s.overtaken_by) setSeen(s.overtaken_by);
    var shift = waiting ? s.overtaken_by - seen() : 0;
    show('shift', shift > 0);
    if (shift > 0) setText('shift-text', fmt(T.shift_alert, { n: shift }));

    var label = s.token_label || String(s.token_number);
    setText('number', label);
    $('number').classList.toggle('label-long', label.length > 4);
    // The line (doctor) in a clinic with several; the room once called, with several rooms.
    if (s.queue_name) setText('line-name', s.queue_name);
    var room = nameRoom && st === 'SERVING' ? s.room_name : null;
    show('room-line', !!room);
    show('turn-room', !!room);
    setText('room-label', label);
    setText('room-name', room || '');
    setText('turn-room', room ? fmt(T.go_to_room, { room: room }) : '');
    setText('status-line', TITLES[st] || st);
    root.classList.toggle('turn', st === 'SERVING');
    show('turn', st === 'SERVING');
    show('live-info', live(st));
    setText('now-serving', s.now_serving_number === null ? T.nobody_serving : (s.now_serving_label || s.now_serving_number));
    show('now-box', st !== 'SERVING');
    show('position-box', waiting);
    show('eta-box', waiting);
    show('ahead-box', waiting);
    setText('position', s.queue_position === null ? '' : s.queue_position);
    if (s.people_ahead === 0) setText('eta', T.eta_soon);
    else if (s.eta_min_minutes !== null && s.eta_max_minutes !== null) setText('eta', fmt(T.eta, { lo: s.eta_min_minutes, hi: s.eta_max_minutes }));
    else setText('eta', T.nobody_serving);
    setText('ahead', aheadText(s.people_ahead));
    var bar = $('progress');
    bar.value = s.progress_percent;
    bar.textContent = bar.value + '%';
    show('closed-note', waiting && s.session_status === 'CLOSED');
    // Stepping out (SPEC §12): the place is kept until the time shown; run out, the token
    // was skipped and the page says why.
    var held = waiting && s.hold_state === 'HELD';
    var expired = st === 'SKIPPED' && s.hold_state === 'EXPIRED';
    show('held-box', held);
    if (held && s.held_until) setText('held-until', fmt(T.held_until, { time: clock(s.held_until) }));
    show('hold-expired', expired);
    if (!waiting) show('returned', false);
    show('hold-box', waiting && !held && s.hold_minutes > 0);
    setText('hold-explain', fmt(T.hold_explain, { minutes: s.hold_minutes }));
    var delay = live(st) && s.delay_minutes > 0;
    show('delay', delay);
    setText('delay-text', delay ? fmt(T.delay_notice, { minutes: s.delay_minutes }) : '');
    show('delay-note', delay && !!s.delay_note);
    setText('delay-note', s.delay_note || '');
    show('reminder-box', waiting && s.reminder_position > 0);
    if (!reminderTouched) $('reminder-position').value = String(s.reminder_position);
    setText('reminder-status', s.reminder_position > 0 ? fmt(T.reminder_saved, { n: s.reminder_position }) : '');
    show('done-body', !live(st) && !expired);
    setText('done-body', BODIES[st] || '');
    show('cancel-box', waiting);
    show('feedback-box', served && !s.feedback_given);
    show('feedback-thanks', served && s.feedback_given);
    document.title = T.token + ' ' + label + ' · ' + (TITLES[st] || st);

    if (!first && st === 'SERVING' && before !== 'SERVING') {
      if (navigator.vibrate) { try { navigator.vibrate([400, 150, 400, 150, 400]); } catch (e) { /* not allowed */ } }
    }
    state = s;
    setText('updated', fmt(T.updated_at, { time: clock(Date.now()) }));
  }

  function schedule(changed) {
    clearTimeout(timer);
    timer = null;
    if (!navigator.onLine) return;
    backoff = changed ? MIN : Math.min(MAX, Math.round(backoff * 1.5));
    var delay = backoff, hint = state.poll_after_seconds || MAX;
    // In the queue the server's hint is an upper bound (it asks for more when the patient
    // is close to the front); once finished, it is a lower bound (nothing much will change).
    delay = live(state.status) ? Math.min(delay, hint) : Math.max(delay, hint);
    if (cap) delay = Math.min(delay, cap);
    timer = setTimeout(poll, delay * 1000);
  }

  function poll() {
    if (inflight) return;
    if (!navigator.onLine) { show('offline', true); return; }
    inflight = true;
    clearTimeout(timer);
    var headers = {};
    if (etag) headers['If-None-Match'] = etag;
    // no-store: the browser's own cache must not turn our 304 into a stale 200.
    fetch('/api/v1/tokens/' + encodeURIComponent(id), { headers: headers, cache: 'no-store' })
      .then(function (r) {
        if (r.status === 304) return null;
        if (!r.ok) throw new Error('HTTP ' + r.status);
        etag = r.headers.get('ETag') || etag;
        return r.json();
      })
      .then(function (s) {
        inflight = false;
        show('offline', false);
        if (s) render(s, false);
        else setText('updated', fmt(T.updated_at, { time: clock(Date.now()) }));
        schedule(!!s);
      })
      .catch(function () { inflight = false; schedule(false); });
  }

  function post(path, body, method) {
    return fetch('/api/v1/tokens/' + encodeURIComponent(id) + path, {
      method: method || 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body || {}),
      cache: 'no-store'
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return { status: r.status, data: data }; });
    });
  }

  function failure(box) {
    return function () {
      setText(box, navigator.onLine ? T.err_generic : T.err_offline);
      show(box, true);
    };
  }

  // Cancel: the <details> is the confirmation step; "No" closes it.
  var cancelForm = $('cancel-form'), cancelNo = $('cancel-no');
  cancelNo.hidden = false;
  cancelNo.addEventListener('click', function () { $('cancel').open = false; });
  cancelForm.addEventListener('submit', function (event) {
    event.preventDefault();
    var yes = $('cancel-yes');
    yes.disabled = true;
    show('cancel-error', false);
    post('/cancel').then(function (res) {
      yes.disabled = false;
      // 409: already called or finished; the fresh state explains it.
      if (res.status === 200 || res.status === 409) { $('cancel').open = false; poll(); return; }
      failure('cancel-error')();
    }, function () { yes.disabled = false; failure('cancel-error')(); });
  });

  var feedbackForm = $('feedback-form');
  feedbackForm.addEventListener('submit', function (event) {
    event.preventDefault();
    var picked = feedbackForm.querySelector('input[name=rating]:checked');
    if (!picked) { setText('feedback-error', T.feedback_pick); show('feedback-error', true); return; }
    var send = $('feedback-send');
    send.disabled = true;
    show('feedback-error', false);
    var comment = $('feedback-comment').value.trim();
    post('/feedback', { rating: +picked.value, feedback: comment || null }).then(function (res) {
      send.disabled = false;
      if (res.status === 200 || res.status === 409) {
        state.feedback_given = true;
        show('feedback-box', false);
        show('feedback-thanks', true);
        return;
      }
      var msg = res.data && res.data.error && res.data.error.message;
      setText('feedback-error', res.status === 400 && msg ? msg : T.err_generic);
      show('feedback-error', true);
    }, function () { send.disabled = false; failure('feedback-error')(); });
  });

  // Step out / I'm back / the reminder: the JSON API, then a poll shows what is true now.
  function reason(res) { return res.data && res.data.error ? res.data.error.reason : ''; }
  $('hold-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var button = $('hold-button');
    button.disabled = true;
    show('hold-error', false);
    post('/hold', {}).then(function (res) {
      button.disabled = false;
      if (res.status === 200) { show('returned', false); poll(); return; }
      if (res.status === 409) {
        setText('hold-error', reason(res) === 'holds_disabled' ? T.err_holds_off : T.err_hold);
        show('hold-error', true);
        poll();
        return;
      }
      failure('hold-error')();
    }, function () { button.disabled = false; failure('hold-error')(); });
  });
  $('return-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var button = $('return-button');
    button.disabled = true;
    show('return-error', false);
    post('/return', {}).then(function (res) {
      button.disabled = false;
      if (res.status === 200 && res.data.outcome !== 'expired') {
        setText('returned', res.data.outcome === 'front' ? T.returned_front : T.returned_place);
        show('returned', true);
      }
      if (res.status === 200 || res.status === 409) { poll(); return; }
      failure('return-error')();
    }, function () { button.disabled = false; failure('return-error')(); });
  });
  $('reminder-position').addEventListener('change', function () { reminderTouched = true; });
  $('reminder-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var position = +$('reminder-position').value;
    post('/reminder', { position: position }, 'PUT').then(function (res) {
      if (res.status === 200) {
        reminderTouched = false;
        setText('reminder-status', fmt(T.reminder_saved, { n: res.data.reminder_position }));
        poll();
        return;
      }
      failure('reminder-status')();
    }, failure('reminder-status'));
  });

  $('shift-ok').addEventListener('click', function () { setSeen(state.overtaken_by); show('shift', false); });

  window.addEventListener('offline', function () { clearTimeout(timer); timer = null; show('offline', true); });
  window.addEventListener('online', function () { show('offline', false); backoff = MIN; poll(); });
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible') poll();
  });

  render(state, true);
  if (!navigator.onLine) show('offline', true);
  schedule(true);
})();
