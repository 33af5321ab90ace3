// Reception dashboard: login, then the queue driven through the JSON API with the HttpOnly
// session cookie (fetch sends our Origin, which the API checks on every write). One request
// at a time: every action button is disabled from the click until the refreshed queue is
// on screen, so a double click can never advance the queue twice. The API call, errors and
// login come from qlink.js. Names are written with textContent only.
//
// In a clinic with several rooms the dashboard works in one room (data-room: the login's
// pinned room or the one picked, remembered in this browser): its queue, its NEXT, SERVED,
// SKIP and UNDO. The clinic overview of every room refreshes from /api/v1/staff/rooms. With
// several lines a token can be sent to another line (TRANSFER) and a walk-in joins the
// line picked.
(function () {
  'use strict';
  var Q = window.QLink;
  var $ = Q.$, api = Q.api, errorText = Q.errorText, showError = Q.showError, clearError = Q.clearError;
  var notice = Q.notice, el = Q.el;
  // The page's words (English or Hindi), {name} marking what is filled in.
  var holder = document.querySelector('main[data-i18n]');
  var T = JSON.parse((holder && holder.getAttribute('data-i18n')) || '{}');
  function fmt(s, args) {
    return String(s).replace(/\{(\w+)\}/g, function (all, k) { return k in args ? String(args[k]) : all; });
  }
  var NETWORK = T.network;
  Q.wireLogin(NETWORK);

  var dashboard = $('dashboard');
  if (!dashboard) return;

  var m = /[?&]poll=(\d+)/.exec(location.search);
  var interval = (m ? Math.min(5, Math.max(1, +m[1])) : 3) * 1000;
  var queue = null, busy = false, timer = null;
  var room = dashboard.getAttribute('data-room');
  var severalRooms = dashboard.hasAttribute('data-rooms');
  var lines = JSON.parse(dashboard.getAttribute('data-queues') || 'null');
  // Several rooms and none picked yet: the queue is shown, the room's buttons wait.
  var noRoom = severalRooms && !room;
  var ROOM_KEY = 'qlink_staff_room';

  // The room picker: the choice is the page's address, and this browser remembers it.
  var picker = $('room');
  if (picker && !picker.disabled) {
    if (noRoom) {
      var remembered = null;
      try { remembered = localStorage.getItem(ROOM_KEY); } catch (e) { /* private mode */ }
      var known = remembered && Array.prototype.some.call(picker.options, function (o) { return o.value === remembered; });
      if (known) { location.replace(withRoom(remembered)); return; }
    }
    picker.addEventListener('change', function () {
      try { if (picker.value) localStorage.setItem(ROOM_KEY, picker.value); } catch (e) { /* private mode */ }
      location.assign(withRoom(picker.value));
    });
  }
  if (room && picker && !picker.disabled) { try { localStorage.setItem(ROOM_KEY, room); } catch (e) { /* private mode */ } }

  function withRoom(id) {
    var params = location.search.replace(/^\?/, '').split('&').filter(function (p) { return p && p.indexOf('room=') !== 0; });
    if (id) params.push('room=' + encodeURIComponent(id));
    return location.pathname + (params.length ? '?' + params.join('&') : '');
  }

  function label(t) { return t.token_label || String(t.token_number); }

  // A select "Send to…" with the other active lines; choosing one transfers the token.
  function transferSelect(t) {
    var s = el('select', 'transfer small');
    s.setAttribute('data-token', t.token_id);
    s.setAttribute('aria-label', fmt(T.send_token_to_line, { label: label(t) }));
    s.appendChild(el('option', null, T.send_to)).value = '';
    (lines || []).forEach(function (q) {
      if (!q.is_active || q.queue_id === t.queue_id) return;
      var o = el('option', null, q.name);
      o.value = q.queue_id;
      s.appendChild(o);
    });
    s.disabled = busy;
    return s;
  }

  function rowButton(text, action, token, cls) {
    var b = el('button', 'small ' + (cls || 'secondary'), text);
    b.type = 'button';
    b.setAttribute('data-action', action);
    b.setAttribute('data-token', token.token_id);
    b.setAttribute('data-number', token.token_number);
    b.setAttribute('data-label', label(token));
    b.disabled = busy;
    return b;
  }

  // Slips: printed by the browser on this desk's paper (kept on this computer).
  var paper = $('slip-paper');
  if (paper) {
    try { paper.value = window.localStorage.getItem('qlink.slip-paper') || '80'; } catch (e) { /* private mode */ }
    paper.addEventListener('change', function () {
      try { window.localStorage.setItem('qlink.slip-paper', paper.value); } catch (e) { /* private mode */ }
      if (lastAdded) $('print-slip').href = slipUrl(lastAdded);
    });
  }
  var lastAdded = null;
  function slipUrl(id) {
    return '/t/' + encodeURIComponent(id) + '/slip?print=1&paper=' + encodeURIComponent(paper ? paper.value : '80');
  }
  function slipLink(id) {
    var a = el('a', 'small button secondary slip-link', T.row_slip);
    a.href = slipUrl(id);
    a.target = '_blank';
    a.rel = 'noopener';
    return a;
  }

  function tokenRow(t, buttons) {
    var li = el('li');
    li.setAttribute('data-token-id', t.token_id);
    li.appendChild(el('span', 'num', label(t)));
    li.appendChild(el('span', 'name', t.patient_name || T.no_name));
    if (t.is_priority) li.appendChild(el('span', 'badge priority', T.badge_priority));
    if (t.held_until && t.status === 'WAITING') li.appendChild(el('span', 'badge away', fmt(T.badge_away, { time: clock(t.held_until) })));
    if (t.held_until && t.status === 'SKIPPED') li.appendChild(el('span', 'badge away', T.badge_away_expired));
    var meta = [];
    if (t.patient_phone) meta.push(t.patient_phone);
    meta.push(t.source === 'STAFF' ? T.source_desk : t.source === 'KIOSK' ? T.source_kiosk : T.source_qr);
    if (lines && t.queue_name) meta.push(t.queue_name);
    li.appendChild(el('span', 'meta', meta.join(' · ')));
    buttons.forEach(function (b) { li.appendChild(b); });
    return li;
  }

  // A time of day in the browser's zone, which is the clinic's (the desk is in the clinic).
  function clock(iso) {
    return new Date(iso).toLocaleTimeString(document.documentElement.getAttribute('data-locale') || [], { hour: 'numeric', minute: '2-digit' });
  }

  var drawn = {};

  function fill(listId, emptyId, tokens, buttonsFor) {
    // Rebuild a list only when it changed: a row replaced under the receptionist's
    // pointer would swallow their click.
    var key = JSON.stringify(tokens.map(function (t) {
      return [t.token_id, t.token_number, t.token_label, t.queue_id, t.patient_name, t.patient_phone, t.is_priority, t.source, t.held_until];
    }));
    if (drawn[listId] === key) return;
    drawn[listId] = key;
    var list = $(listId);
    list.textContent = '';
    tokens.forEach(function (t) { list.appendChild(tokenRow(t, buttonsFor(t))); });
    $(emptyId).hidden = tokens.length > 0;
  }

  // The queue buttons keep their names; other undoable actions read as words.
  var UNDO_NAMES = { ADD_WALK_IN: T.undo_add_walk_in, ADD_EMERGENCY: T.undo_add_emergency, CLOSE_SESSION: T.undo_close_day, RESET_SESSION: T.undo_reset_day };

  function updateButtons() {
    var s = queue && queue.summary;
    var serving = !!(s && s.serving_token_id);
    $('next').disabled = busy || noRoom || !s || (!serving && s.waiting_count === 0);
    $('served').disabled = busy || noRoom || !serving;
    $('skip').disabled = busy || noRoom || !serving;
    var undo = $('undo');
    undo.disabled = busy || noRoom || !s || !s.undo_action;
    var undoLabel = s && (s.undo_token_label || (s.undo_token_number !== null && s.undo_token_number !== undefined ? s.undo_token_number : null));
    var what = s && s.undo_action ? (UNDO_NAMES[s.undo_action] || s.undo_action) : null;
    undo.textContent = what === null
      ? T.undo_nothing
      : (undoLabel !== null && undoLabel !== undefined ? fmt(T.undo_what_token, { what: what, label: undoLabel }) : fmt(T.undo_what, { what: what }));
    var closed = !!(s && s.session_status === 'CLOSED');
    $('close-day').disabled = busy || closed;
    $('close-day').textContent = closed ? T.day_closed : T.close_day;
    $('add-walkin').disabled = busy;
    $('add-emergency').disabled = busy;
    Array.prototype.forEach.call(dashboard.querySelectorAll('.tokens button, select.transfer'), function (b) { b.disabled = busy; });
    dashboard.setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  function render(q) {
    queue = q;
    var s = q.summary;
    $('clinic-name').textContent = q.business_name;
    document.title = fmt(T.reception_of, { clinic: q.business_name });
    // This room's patient (without a room: the clinic's, as in a one-room clinic).
    var serving = q.tokens.filter(function (t) {
      return t.status === 'SERVING' && (!room || !t.room_id || t.room_id === room);
    })[0];
    $('serving-number').textContent = serving ? label(serving) : '—';
    var box = $('serving-transfer-box');
    if (box) {
      box.hidden = !serving;
      var key = serving ? serving.token_id + '/' + serving.queue_id : '';
      if (serving && box.getAttribute('data-for') !== key) {
        box.setAttribute('data-for', key);
        var old = $('serving-transfer');
        var fresh = transferSelect(serving);
        fresh.id = 'serving-transfer';
        old.parentNode.replaceChild(fresh, old);
      }
    }
    $('serving-name').textContent = serving ? (serving.patient_name || '') : T.nobody_seen;
    var stall = $('stall');
    stall.hidden = !s.stall_warning;
    stall.textContent = s.stall_warning
      ? fmt(T.stall, { minutes: q.stall_warning_minutes })
      : '';
    $('closed-banner').hidden = s.session_status !== 'CLOSED';
    $('count-waiting').textContent = s.waiting_count;
    $('count-skipped').textContent = s.skipped_count;
    $('count-served').textContent = s.served_count;
    $('count-cancelled').textContent = s.cancelled_count;
    $('count-total').textContent = s.last_token_number;
    $('count-away').textContent = s.held_count || 0;
    var delay = $('delay-banner');
    delay.hidden = s.delay_minutes === null || s.delay_minutes === undefined;
    delay.textContent = delay.hidden ? '' : s.delay_note
      ? fmt(T.delay_banner_note, { minutes: s.delay_minutes, note: s.delay_note })
      : fmt(T.delay_banner, { minutes: s.delay_minutes });
    fill('waiting-list', 'waiting-empty', q.tokens.filter(function (t) { return t.status === 'WAITING'; }), function (t) {
      var buttons = [rowButton(T.row_skip, 'SKIP', t), rowButton(T.row_cancel, 'CANCEL', t)];
      if (lines) buttons.push(transferSelect(t));
      buttons.push(slipLink(t.token_id));
      return buttons;
    });
    fill('skipped-list', 'skipped-empty', q.tokens.filter(function (t) { return t.status === 'SKIPPED'; }), function (t) {
      return [rowButton(T.row_recall, 'RECALL', t, 'primary'), slipLink(t.token_id)];
    });
    updateButtons();
  }

  // The clinic overview: every room, whom it serves, how many wait for it.
  function renderOverview(rooms) {
    var body = $('overview-rows');
    if (!body) return;
    body.textContent = '';
    rooms.filter(function (r) { return r.is_active; }).forEach(function (r) {
      var tr = el('tr', r.room_id === room ? 'here' : null);
      tr.setAttribute('data-room-id', r.room_id);
      tr.appendChild(el('td', 'room-name', r.name));
      tr.appendChild(el('td', null, r.queue_names.join(', ')));
      tr.appendChild(el('td', 'serving', r.serving_label === null ? '—' : r.serving_label));
      tr.appendChild(el('td', 'waiting', r.waiting_count));
      body.appendChild(tr);
    });
  }

  function refreshOverview() {
    if (!$('overview-rows')) return Promise.resolve();
    return api('GET', '/api/v1/staff/rooms').then(function (res) {
      if (res.status === 200) renderOverview(res.data.rooms);
    }, function () { /* the queue's own refresh reports the network */ });
  }

  function refresh() {
    refreshOverview();
    return api('GET', '/api/v1/staff/queue' + (room ? '?room_id=' + encodeURIComponent(room) : '')).then(function (res) {
      if (res.status === 401) { location.reload(); return; }
      if (res.status !== 200) { showError(errorText(res)); return; }
      // The connection is back: the warning about it no longer applies.
      if (Q.errorShown() === NETWORK) clearError();
      render(res.data);
    }, function () { showError(NETWORK); });
  }

  function loop() {
    clearTimeout(timer);
    // While an action is in flight its own refresh follows; don't race it.
    var next = busy ? Promise.resolve() : refresh();
    next.then(function () { timer = setTimeout(loop, interval); });
  }

  // Runs one write at a time; the buttons come back once the new queue is shown.
  function run(request, onOk) {
    if (busy) return;
    busy = true;
    updateButtons();
    clearError();
    notice('');
    request().then(function (res) {
      if (res.status === 401) { location.reload(); return; }
      if (res.status >= 200 && res.status < 300) { if (onOk) onOk(res); } else { showError(errorText(res)); }
    }, function () {
      showError(T.network_action);
    }).then(function () { return refresh(); }).then(function () { busy = false; updateButtons(); });
  }

  function act(action, tokenId) {
    var body = { action: action };
    if (tokenId) body.token_id = tokenId;
    if (room) body.room_id = room;
    run(function () { return api('POST', '/api/v1/staff/queue/actions', body); });
  }

  ['next', 'served', 'skip', 'undo'].forEach(function (id) {
    $(id).addEventListener('click', function () { act($(id).getAttribute('data-action')); });
  });

  dashboard.addEventListener('click', function (event) {
    var b = event.target.closest('.tokens button[data-action]');
    if (b && !b.disabled) act(b.getAttribute('data-action'), b.getAttribute('data-token'));
  });

  function transfer(tokenId, queueId) {
    var body = { action: 'TRANSFER', token_id: tokenId, target_queue_id: queueId };
    if (room) body.room_id = room;
    var name = (lines || []).filter(function (q) { return q.queue_id === queueId; }).map(function (q) { return q.name; })[0];
    run(function () { return api('POST', '/api/v1/staff/queue/actions', body); }, function () {
      notice(fmt(T.sent_to, { line: name || T.the_other_line }));
    });
  }

  dashboard.addEventListener('change', function (event) {
    var s = event.target.closest('select.transfer');
    if (s && s.value && !busy) transfer(s.getAttribute('data-token'), s.value);
  });

  document.addEventListener('keydown', function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    var tag = (event.target.tagName || '').toLowerCase();
    if (tag === 'input' || tag === 'textarea' || tag === 'select' || event.target.isContentEditable) return;
    var key = (event.key || '').toLowerCase();
    if (key === 'p' && lastAdded) { event.preventDefault(); window.open(slipUrl(lastAdded), '_blank', 'noopener'); return; }
    var target = { n: 'next', s: 'served', k: 'skip' }[key];
    if (target && !$(target).disabled) { event.preventDefault(); $(target).click(); }
  });

  var addForm = $('add-form');
  addForm.addEventListener('submit', function (event) {
    event.preventDefault();
    var emergency = !!(event.submitter && event.submitter.getAttribute('data-priority') === 'true');
    var name = $('add-name').value.trim();
    if (!name) { showError(T.enter_name); $('add-name').focus(); return; }
    var phone = $('add-phone').value.trim();
    var body = { patient_name: name, patient_phone: phone || null, is_priority: emergency };
    var line = $('add-queue');
    if (line && line.value) body.queue_id = line.value;
    run(function () {
      return api('POST', '/api/v1/staff/tokens', body);
    }, function (res) {
      var keep = line ? line.value : null;
      addForm.reset();
      if (line) line.value = keep;
      var args = { label: res.data.token_label || res.data.token_number, name: name, line: res.data.queue_name };
      var withLine = !!(line && res.data.queue_name);
      notice(fmt(emergency ? (withLine ? T.emergency_added_line : T.emergency_added) : (withLine ? T.walkin_added_line : T.walkin_added), args));
      lastAdded = res.data.token_id;
      var print = $('print-slip');
      print.href = slipUrl(lastAdded);
      print.hidden = false;
    });
  });

  function announceDelay(minutes) {
    var body = { minutes: minutes };
    var note = $('delay-note').value.trim();
    if (minutes > 0 && note) body.note = note;
    var line = $('delay-queue');
    if (line && line.value) body.queue_id = line.value;
    run(function () { return api('POST', '/api/v1/staff/delay', body); }, function (res) {
      notice(minutes > 0
        ? fmt(res.data.messages_queued ? T.delay_set_queued : T.delay_set, { minutes: minutes, queued: res.data.messages_queued })
        : T.delay_cleared);
    });
  }

  $('delay-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var input = $('delay-minutes');
    if (!input.checkValidity()) { showError(T.minutes_invalid); input.focus(); return; }
    announceDelay(parseInt(input.value, 10));
  });
  $('delay-clear').addEventListener('click', function () { announceDelay(0); });

  // Closing the day takes two clicks: the first one only asks.
  var closeDay = $('close-day'), armed = null;
  closeDay.addEventListener('click', function () {
    if (!armed) {
      closeDay.textContent = T.close_day_confirm;
      closeDay.classList.add('danger');
      armed = setTimeout(function () { armed = null; closeDay.classList.remove('danger'); updateButtons(); }, 5000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    closeDay.classList.remove('danger');
    run(function () { return api('POST', '/api/v1/staff/session/close'); }, function () {
      notice(T.day_closed_notice);
    });
  });

  // The kiosks at the door: listed when the section is opened, each with its sign-out.
  var kiosks = $('kiosks');
  function loadKiosks() {
    api('GET', '/api/v1/staff/kiosks').then(function (res) {
      if (res.status !== 200) { showError(errorText(res)); return; }
      var link = $('kiosk-path');
      link.href = res.data.kiosk_path;
      link.textContent = location.origin + res.data.kiosk_path;
      var list = $('kiosk-list');
      list.textContent = '';
      res.data.kiosks.forEach(function (k) {
        var until = new Date(k.expires_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
        var li = el('li', null, fmt(T.kiosk_row, { who: k.opened_by_email, until: until }) + ' ');
        var b = el('button', 'small secondary', T.kiosk_close);
        b.type = 'button';
        b.setAttribute('data-kiosk', k.kiosk_id);
        b.addEventListener('click', function () {
          b.disabled = true;
          api('DELETE', '/api/v1/staff/kiosks/' + encodeURIComponent(k.kiosk_id)).then(function (r) {
            if (r.status !== 204 && r.status !== 404) { b.disabled = false; showError(errorText(r)); return; }
            loadKiosks();
          }, function () { b.disabled = false; showError(NETWORK); });
        });
        li.appendChild(b);
        list.appendChild(li);
      });
      $('kiosk-none').hidden = res.data.kiosks.length > 0;
    }, function () { showError(NETWORK); });
  }
  if (kiosks) kiosks.addEventListener('toggle', function () { if (kiosks.open) loadKiosks(); });

  loop();
})();
