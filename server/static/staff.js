// Reception dashboard: login, then the queue driven through the JSON API with the HttpOnly
// session cookie (fetch sends our Origin, which the API checks on every write). One request
// at a time: every action button is disabled from the click until the refreshed queue is
// on screen, so a double click can never advance the queue twice. The API call, errors and
// login come from qlink.js. Names are written with textContent only.
(function () {
  'use strict';
  var Q = window.QLink;
  var $ = Q.$, api = Q.api, errorText = Q.errorText, showError = Q.showError, clearError = Q.clearError;
  var notice = Q.notice, el = Q.el;
  var NETWORK = 'Network error: the server could not be reached. Check the connection; the list shows the last known state.';
  Q.wireLogin(NETWORK);

  var dashboard = $('dashboard');
  if (!dashboard) return;

  var m = /[?&]poll=(\d+)/.exec(location.search);
  var interval = (m ? Math.min(5, Math.max(1, +m[1])) : 3) * 1000;
  var queue = null, busy = false, timer = null;

  function rowButton(label, action, token, cls) {
    var b = el('button', 'small ' + (cls || 'secondary'), label);
    b.type = 'button';
    b.setAttribute('data-action', action);
    b.setAttribute('data-token', token.token_id);
    b.setAttribute('data-number', token.token_number);
    b.disabled = busy;
    return b;
  }

  function tokenRow(t, buttons) {
    var li = el('li');
    li.setAttribute('data-token-id', t.token_id);
    li.appendChild(el('span', 'num', t.token_number));
    li.appendChild(el('span', 'name', t.patient_name || '(no name)'));
    if (t.is_priority) li.appendChild(el('span', 'badge priority', 'PRIORITY'));
    var meta = [];
    if (t.patient_phone) meta.push(t.patient_phone);
    meta.push(t.source === 'STAFF' ? 'desk' : 'QR');
    li.appendChild(el('span', 'meta', meta.join(' · ')));
    buttons.forEach(function (b) { li.appendChild(b); });
    return li;
  }

  var drawn = {};

  function fill(listId, emptyId, tokens, buttonsFor) {
    // Rebuild a list only when it changed: a row replaced under the receptionist's
    // pointer would swallow their click.
    var key = JSON.stringify(tokens.map(function (t) {
      return [t.token_id, t.token_number, t.patient_name, t.patient_phone, t.is_priority, t.source];
    }));
    if (drawn[listId] === key) return;
    drawn[listId] = key;
    var list = $(listId);
    list.textContent = '';
    tokens.forEach(function (t) { list.appendChild(tokenRow(t, buttonsFor(t))); });
    $(emptyId).hidden = tokens.length > 0;
  }

  // The queue buttons keep their names; other undoable actions read as words.
  var UNDO_NAMES = { ADD_WALK_IN: 'add walk-in', ADD_EMERGENCY: 'add emergency', CLOSE_SESSION: 'close day', RESET_SESSION: 'reset day' };

  function updateButtons() {
    var s = queue && queue.summary;
    var serving = !!(s && s.serving_token_id);
    $('next').disabled = busy || !s || (!serving && s.waiting_count === 0);
    $('served').disabled = busy || !serving;
    $('skip').disabled = busy || !serving;
    var undo = $('undo');
    undo.disabled = busy || !s || !s.undo_action;
    undo.textContent = s && s.undo_action
      ? 'UNDO ' + (UNDO_NAMES[s.undo_action] || s.undo_action) + (s.undo_token_number !== null ? ' (token ' + s.undo_token_number + ')' : '')
      : 'UNDO (nothing to undo)';
    var closed = !!(s && s.session_status === 'CLOSED');
    $('close-day').disabled = busy || closed;
    $('close-day').textContent = closed ? 'Today\'s queue is closed' : 'Close today\'s queue';
    $('add-walkin').disabled = busy;
    $('add-emergency').disabled = busy;
    Array.prototype.forEach.call(dashboard.querySelectorAll('.tokens button'), function (b) { b.disabled = busy; });
    dashboard.setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  function render(q) {
    queue = q;
    var s = q.summary;
    $('clinic-name').textContent = q.business_name;
    document.title = 'Reception · ' + q.business_name;
    var serving = q.tokens.filter(function (t) { return t.status === 'SERVING'; })[0];
    $('serving-number').textContent = serving ? serving.token_number : '—';
    $('serving-name').textContent = serving ? (serving.patient_name || '') : 'Nobody is being seen.';
    var stall = $('stall');
    stall.hidden = !s.stall_warning;
    stall.textContent = s.stall_warning
      ? 'No queue action for ' + q.stall_warning_minutes + ' minutes while patients are waiting. Press NEXT when the doctor is ready.'
      : '';
    $('closed-banner').hidden = s.session_status !== 'CLOSED';
    $('count-waiting').textContent = s.waiting_count;
    $('count-skipped').textContent = s.skipped_count;
    $('count-served').textContent = s.served_count;
    $('count-cancelled').textContent = s.cancelled_count;
    $('count-total').textContent = s.last_token_number;
    fill('waiting-list', 'waiting-empty', q.tokens.filter(function (t) { return t.status === 'WAITING'; }), function (t) {
      return [rowButton('Skip', 'SKIP', t), rowButton('Cancel', 'CANCEL', t)];
    });
    fill('skipped-list', 'skipped-empty', q.tokens.filter(function (t) { return t.status === 'SKIPPED'; }), function (t) {
      return [rowButton('RECALL', 'RECALL', t, 'primary')];
    });
    updateButtons();
  }

  function refresh() {
    return api('GET', '/api/v1/staff/queue').then(function (res) {
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
      showError('Network error: the action may not have reached the server. Check the list before trying again.');
    }).then(function () { return refresh(); }).then(function () { busy = false; updateButtons(); });
  }

  function act(action, tokenId) {
    var body = { action: action };
    if (tokenId) body.token_id = tokenId;
    run(function () { return api('POST', '/api/v1/staff/queue/actions', body); });
  }

  ['next', 'served', 'skip', 'undo'].forEach(function (id) {
    $(id).addEventListener('click', function () { act($(id).getAttribute('data-action')); });
  });

  dashboard.addEventListener('click', function (event) {
    var b = event.target.closest('.tokens button[data-action]');
    if (b && !b.disabled) act(b.getAttribute('data-action'), b.getAttribute('data-token'));
  });

  document.addEventListener('keydown', function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    var tag = (event.target.tagName || '').toLowerCase();
    if (tag === 'input' || tag === 'textarea' || tag === 'select' || event.target.isContentEditable) return;
    var target = { n: 'next', s: 'served', k: 'skip' }[(event.key || '').toLowerCase()];
    if (target && !$(target).disabled) { event.preventDefault(); $(target).click(); }
  });

  var addForm = $('add-form');
  addForm.addEventListener('submit', function (event) {
    event.preventDefault();
    var emergency = !!(event.submitter && event.submitter.getAttribute('data-priority') === 'true');
    var name = $('add-name').value.trim();
    if (!name) { showError('Enter the patient\'s name.'); $('add-name').focus(); return; }
    var phone = $('add-phone').value.trim();
    run(function () {
      return api('POST', '/api/v1/staff/tokens', { patient_name: name, patient_phone: phone || null, is_priority: emergency });
    }, function (res) {
      addForm.reset();
      notice((emergency ? 'Emergency' : 'Walk-in') + ' added: token ' + res.data.token_number + ' for ' + name + '.');
    });
  });

  // Closing the day takes two clicks: the first one only asks.
  var closeDay = $('close-day'), armed = null;
  closeDay.addEventListener('click', function () {
    if (!armed) {
      closeDay.textContent = 'Click again to close today\'s queue';
      closeDay.classList.add('danger');
      armed = setTimeout(function () { armed = null; closeDay.classList.remove('danger'); updateButtons(); }, 5000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    closeDay.classList.remove('danger');
    run(function () { return api('POST', '/api/v1/staff/session/close'); }, function () {
      notice('Today\'s queue is closed for QR sign-ups.');
    });
  });

  loop();
})();
