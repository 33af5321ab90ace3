// Operator panel: clinics with today's usage, create / suspend / reactivate / reset /
// delete, settings, each clinic's WhatsApp number and each sender's backlog and daily
// recipient limit, failed messages and the audit log, all through the admin JSON API with
// the HttpOnly session cookie. The API call, errors and login come from qlink.js. Every
// value is written with textContent.
(function () {
  'use strict';
  var Q = window.QLink;
  var $ = Q.$, api = Q.api, errorText = Q.errorText, showError = Q.showError, clearError = Q.clearError;
  var notice = Q.notice, el = Q.el;
  var NETWORK = 'Network error: the server could not be reached.';
  // A staff login also succeeds: the page then explains that this panel is for the operator.
  Q.wireLogin(NETWORK);

  var panel = $('admin');
  if (!panel) return;

  var clinics = [], busy = false, editing = null, senderOf = null;
  function link(href, text) { var a = el('a', null, text); a.href = href; return a; }
  function when(iso) { return iso ? new Date(iso).toLocaleString('en-IN', { dateStyle: 'medium', timeStyle: 'short' }) : ''; }

  function setBusy(on) {
    busy = on;
    Array.prototype.forEach.call(panel.querySelectorAll('button'), function (b) { b.disabled = on; });
    panel.setAttribute('aria-busy', on ? 'true' : 'false');
  }

  // Irreversible or disruptive actions take two clicks: the first one only asks.
  function twoStep(button, question, action) {
    if (button.getAttribute('data-armed')) { action(); return; }
    button.setAttribute('data-armed', '1');
    var label = button.textContent;
    button.textContent = question;
    button.classList.add('danger');
    setTimeout(function () {
      if (!button.isConnected) return;
      button.removeAttribute('data-armed');
      button.textContent = label;
      button.classList.remove('danger');
    }, 6000);
  }

  function actionButton(label, act, clinic, cls) {
    var b = el('button', 'small ' + (cls || 'secondary'), label);
    b.type = 'button';
    b.setAttribute('data-act', act);
    b.setAttribute('data-id', clinic.business_id);
    return b;
  }

  function renderClinics() {
    var body = $('clinic-rows');
    body.textContent = '';
    clinics.forEach(function (c) {
      var tr = el('tr');
      tr.setAttribute('data-slug', c.slug);
      var name = el('td');
      name.appendChild(el('strong', 'clinic-title', c.name));
      name.appendChild(el('br'));
      name.appendChild(link('/c/' + encodeURIComponent(c.slug), '/c/' + c.slug));
      var more = el('div', 'small-print');
      more.appendChild(link('/c/' + encodeURIComponent(c.slug) + '/poster', 'poster'));
      more.appendChild(document.createTextNode(' · '));
      more.appendChild(link('/c/' + encodeURIComponent(c.slug) + '/display', 'lobby display'));
      more.appendChild(document.createTextNode(' · '));
      more.appendChild(link('/c/' + encodeURIComponent(c.slug) + '/qr.png', 'QR PNG'));
      more.appendChild(document.createTextNode(' · '));
      more.appendChild(link('/owner?clinic=' + encodeURIComponent(c.slug), 'lines, rooms & logins'));
      name.appendChild(more);
      tr.appendChild(name);
      var status = el('td');
      status.appendChild(el('span', 'badge ' + c.status.toLowerCase(), c.status));
      tr.appendChild(status);
      tr.appendChild(el('td', null, c.session_status || 'not opened'));
      tr.appendChild(el('td', null, c.waiting_count));
      tr.appendChild(el('td', null, c.serving_count));
      tr.appendChild(el('td', null, c.tokens_today));
      tr.appendChild(el('td', null, c.failed_messages_today));
      var actions = el('td');
      if (c.status === 'SUSPENDED' || c.status === 'DISABLED') actions.appendChild(actionButton('Reactivate', 'activate', c, 'primary'));
      else actions.appendChild(actionButton('Suspend', 'suspend', c, 'warn'));
      actions.appendChild(actionButton('Settings', 'settings', c));
      actions.appendChild(actionButton('WhatsApp', 'whatsapp', c));
      actions.appendChild(actionButton('Reset today', 'reset', c));
      actions.appendChild(actionButton('Delete', 'delete', c));
      tr.appendChild(actions);
      body.appendChild(tr);
    });
    $('clinics-empty').hidden = clinics.length > 0;
    if (busy) setBusy(true);
  }

  function renderMetrics(m) {
    $('m-tokens').textContent = m.tokens_today;
    $('m-sessions').textContent = m.active_sessions;
    $('m-queues').textContent = m.active_queues;
    $('m-failed').textContent = m.failed_messages_today;
  }

  function renderFailed(messages) {
    var body = $('failed-rows');
    body.textContent = '';
    messages.forEach(function (m) {
      var tr = el('tr');
      [when(m.updated_at), m.business_slug, m.token_number, m.message_type, m.to_phone || '', m.attempts,
        m.reason || (m.provider_response ? JSON.stringify(m.provider_response) : '')].forEach(function (v, i) {
        tr.appendChild(el('td', i === 6 ? 'details' : null, v));
      });
      body.appendChild(tr);
    });
    $('failed-empty').hidden = messages.length > 0;
  }

  function renderAudit(entries) {
    var body = $('audit-rows');
    body.textContent = '';
    entries.forEach(function (e) {
      var tr = el('tr');
      var target = (e.details && (e.details.slug || e.details.name)) || e.target_id || '';
      [when(e.created_at), e.actor_email, e.actor_ip || '', e.action, target, JSON.stringify(e.details)].forEach(function (v, i) {
        tr.appendChild(el('td', i === 5 ? 'details' : null, v));
      });
      body.appendChild(tr);
    });
  }

  // One row per sender number: the installation's first (phone_number_id null). The daily
  // limit is the account's, shared by its numbers: changing it on one row changes it on all.
  function renderSenders(senders) {
    var body = $('sender-rows');
    body.textContent = '';
    senders.forEach(function (s) {
      var tr = el('tr');
      var number = el('td');
      number.appendChild(el('strong', null, s.display_number || (s.phone_number_id ? '' : 'QLink\'s number')));
      if (s.phone_number_id) { number.appendChild(el('br')); number.appendChild(el('span', 'small-print', 'id ' + s.phone_number_id)); }
      tr.appendChild(number);
      tr.appendChild(el('td', null, s.waba_id));
      tr.appendChild(el('td', null, s.clinics));
      tr.appendChild(el('td', null, s.pending));
      tr.appendChild(el('td', s.deferred > 0 ? 'warning' : null, s.deferred));
      tr.appendChild(el('td', null, s.failed));
      tr.appendChild(el('td', null, when(s.oldest_due_at)));
      tr.appendChild(el('td', s.recipients_24h >= s.daily_recipient_limit ? 'warning' : null,
        s.recipients_24h + ' / ' + s.daily_recipient_limit));
      var limit = el('td');
      var input = el('input', 'short');
      input.type = 'number'; input.min = '1'; input.max = '1000000'; input.step = '1';
      input.value = s.daily_recipient_limit;
      input.setAttribute('aria-label', 'Daily recipient limit of account ' + s.waba_id);
      var save = el('button', 'small secondary', 'Save');
      save.type = 'button';
      save.setAttribute('data-waba', s.waba_id);
      limit.appendChild(input);
      limit.appendChild(save);
      tr.appendChild(limit);
      body.appendChild(tr);
    });
    if (busy) setBusy(true);
  }

  function load() {
    return Promise.all([
      api('GET', '/api/v1/admin/clinics'),
      api('GET', '/api/v1/admin/metrics'),
      api('GET', '/api/v1/admin/messages?status=PERMANENTLY_FAILED'),
      api('GET', '/api/v1/admin/audit'),
      api('GET', '/api/v1/admin/whatsapp/senders')
    ]).then(function (r) {
      if (r.some(function (x) { return x.status === 401; })) { location.reload(); return; }
      var bad = r.filter(function (x) { return x.status !== 200; })[0];
      if (bad) { showError(errorText(bad)); return; }
      clinics = r[0].data.clinics;
      renderClinics();
      renderMetrics(r[1].data);
      renderFailed(r[2].data.messages);
      renderAudit(r[3].data.entries);
      renderSenders(r[4].data.senders);
    }, function () { showError(NETWORK); });
  }

  function run(request, onOk, onError) {
    if (busy) return;
    setBusy(true);
    clearError();
    notice('');
    request().then(function (res) {
      if (res.status === 401) { location.reload(); return; }
      if (res.status >= 200 && res.status < 300) { if (onOk) onOk(res); } else if (!onError || !onError(res)) { showError(errorText(res)); }
    }, function () { showError(NETWORK); }).then(load).then(function () { setBusy(false); });
  }

  function byId(id) { return clinics.filter(function (c) { return c.business_id === id; })[0]; }

  $('clinic-rows').addEventListener('click', function (event) {
    var b = event.target.closest('button[data-act]');
    if (!b || b.disabled) return;
    var c = byId(b.getAttribute('data-id'));
    if (!c) return;
    var path = '/api/v1/admin/clinics/' + encodeURIComponent(c.business_id);
    switch (b.getAttribute('data-act')) {
      case 'suspend':
        run(function () { return api('PATCH', path, { status: 'SUSPENDED' }); }, function () {
          notice(c.name + ' is suspended: patients and staff can no longer use the queue.');
        });
        break;
      case 'activate':
        run(function () { return api('PATCH', path, { status: 'ACTIVE' }); }, function () { notice(c.name + ' is active again.'); });
        break;
      case 'reset':
        twoStep(b, 'Confirm reset?', function () {
          run(function () { return api('POST', path + '/reset-session'); }, function (res) {
            notice('Today\'s queue of ' + c.name + ' was reset: ' + res.data.cancelled_count + ' waiting or skipped tokens cancelled.');
          }, function (res) {
            if (res.status !== 409) return false;
            showError('Cannot reset ' + c.name + ' now: ' + errorText(res) + ' Ask the desk to finish the patient being seen (SERVED or SKIP) first.');
            return true;
          });
        });
        break;
      case 'delete':
        twoStep(b, 'Confirm delete?', function () {
          run(function () { return api('DELETE', path); }, function () { notice(c.name + ' was deleted.'); }, function (res) {
            if (res.status !== 409) return false;
            showError('Cannot delete ' + c.name + ': ' + errorText(res) +
              ' A clinic with patients waiting or being seen today is never deleted. Reset today\'s queue first (or let the day finish), then delete.');
            return true;
          });
        });
        break;
      case 'settings':
        openEditor(c);
        break;
      case 'whatsapp':
        openSender(c);
        break;
    }
  });

  $('sender-rows').addEventListener('click', function (event) {
    var b = event.target.closest('button[data-waba]');
    if (!b || b.disabled) return;
    var waba = b.getAttribute('data-waba');
    var input = b.parentNode.querySelector('input');
    if (!input.checkValidity() || !/^\d+$/.test(input.value)) {
      showError('Daily recipient limit: ' + (input.validationMessage || 'enter a whole number from 1 to 1,000,000.'));
      input.focus();
      return;
    }
    var limit = parseInt(input.value, 10);
    run(function () {
      return api('PUT', '/api/v1/admin/whatsapp/accounts/' + encodeURIComponent(waba), { daily_recipient_limit: limit });
    }, function () { notice('Daily recipient limit of ' + waba + ' set to ' + limit + '.'); });
  });

  // A clinic's WhatsApp number. The access token is write-only: the form never shows it
  // (the API never returns it), only whether one is stored.
  function showSender(c, s) {
    $('w-phone-number-id').value = s.phone_number_id || '';
    $('w-display-number').value = s.display_number || '';
    $('w-waba-id').value = s.waba_id || '';
    $('w-access-token').value = '';
    $('w-clear-token').checked = false;
    $('w-token-state').textContent = s.own_sender
      ? (s.has_access_token ? 'An access token of its own is stored (never shown).' : 'No access token of its own: QLink\'s is used.')
      : c.name + ' sends from QLink\'s number.';
    $('sender-remove').hidden = !s.own_sender;
  }

  function openSender(c) {
    senderOf = c;
    $('sender-clinic').textContent = c.name;
    $('sender-error').hidden = true;
    api('GET', '/api/v1/admin/clinics/' + encodeURIComponent(c.business_id) + '/whatsapp').then(function (res) {
      if (res.status === 401) { location.reload(); return; }
      if (res.status !== 200) { showError(errorText(res)); return; }
      showSender(c, res.data);
      $('sender-editor').hidden = false;
      $('sender-editor').scrollIntoView({ block: 'start' });
      $('w-phone-number-id').focus();
    }, function () { showError(NETWORK); });
  }

  function closeSender() { senderOf = null; $('sender-editor').hidden = true; $('w-access-token').value = ''; }
  $('sender-cancel').addEventListener('click', closeSender);

  function senderFailed(res) {
    var error = $('sender-error');
    error.textContent = errorText(res);
    error.hidden = false;
    return true;
  }

  $('sender-form').addEventListener('submit', function (event) {
    event.preventDefault();
    if (!senderOf) return;
    var c = senderOf;
    var body = {
      phone_number_id: $('w-phone-number-id').value.trim(),
      display_number: $('w-display-number').value.trim(),
      waba_id: $('w-waba-id').value.trim()
    };
    var token = $('w-access-token').value.trim();
    if (token) body.access_token = token;
    else if ($('w-clear-token').checked) body.clear_access_token = true;
    $('sender-error').hidden = true;
    run(function () {
      return api('PUT', '/api/v1/admin/clinics/' + encodeURIComponent(c.business_id) + '/whatsapp', body);
    }, function (res) {
      $('w-access-token').value = '';
      showSender(c, res.data);
      notice(c.name + ' now sends from ' + res.data.display_number + '.');
    }, senderFailed);
  });

  $('sender-remove').addEventListener('click', function () {
    if (!senderOf) return;
    var c = senderOf;
    twoStep($('sender-remove'), 'Confirm: use QLink\'s number?', function () {
      run(function () {
        return api('DELETE', '/api/v1/admin/clinics/' + encodeURIComponent(c.business_id) + '/whatsapp');
      }, function () { closeSender(); notice(c.name + ' sends from QLink\'s number again.'); }, senderFailed);
    });
  });

  // The settings inputs, as the server rendered them from qlink.settings_schema(): which
  // settings exist, their kinds and ranges are the extension's, not this script's.
  var FIELDS = Array.prototype.slice.call(document.querySelectorAll('#settings-form [data-setting]'));
  function fieldsOf(kind) { return FIELDS.filter(function (f) { return f.getAttribute('data-kind') === kind; }); }
  function key(f) { return f.getAttribute('data-setting'); }

  function openEditor(c) {
    editing = c;
    $('settings-clinic').textContent = c.name;
    $('s-name').value = c.name;
    FIELDS.forEach(function (f) {
      var v = c.settings[key(f)];
      if (f.getAttribute('data-kind') === 'languages') f.checked = (v || []).indexOf(f.value) >= 0;
      else if (f.type === 'checkbox') f.checked = !!v;
      else f.value = v;
    });
    $('settings-error').hidden = true;
    $('settings-editor').hidden = false;
    $('settings-editor').scrollIntoView({ block: 'start' });
    $('s-name').focus();
  }

  $('settings-cancel').addEventListener('click', function () { editing = null; $('settings-editor').hidden = true; });

  $('settings-form').addEventListener('submit', function (event) {
    event.preventDefault();
    if (!editing) return;
    var c = editing, error = $('settings-error');
    var patch = {}, changed = false;
    var numbers = fieldsOf('integer');
    for (var i = 0; i < numbers.length; i++) {
      var input = numbers[i];
      if (!input.checkValidity() || !/^\d+$/.test(input.value)) {
        error.textContent = input.labels[0].textContent + ': ' + (input.validationMessage || 'enter a whole number.');
        error.hidden = false;
        input.focus();
        return;
      }
      var v = parseInt(input.value, 10);
      if (v !== c.settings[key(input)]) { patch[key(input)] = v; changed = true; }
    }
    var lo = parseInt($('s-eta_min_minutes').value, 10), hi = parseInt($('s-eta_max_minutes').value, 10);
    if (lo > hi) { error.textContent = 'The ETA low value must not be above the high value.'; error.hidden = false; return; }
    fieldsOf('boolean').forEach(function (f) {
      if (f.checked !== c.settings[key(f)]) { patch[key(f)] = f.checked; changed = true; }
    });
    fieldsOf('language').forEach(function (f) {
      if (f.value !== c.settings[key(f)]) { patch[key(f)] = f.value; changed = true; }
    });
    var lists = {};
    fieldsOf('languages').forEach(function (f) {
      lists[key(f)] = lists[key(f)] || [];
      if (f.checked) lists[key(f)].push(f.value);
    });
    Object.keys(lists).forEach(function (k) {
      if (lists[k].join(',') !== (c.settings[k] || []).join(',')) { patch[k] = lists[k]; changed = true; }
    });
    var body = {};
    if (changed) body.settings = patch;
    var name = $('s-name').value.trim();
    if (!name) { error.textContent = 'The clinic needs a name.'; error.hidden = false; return; }
    if (name !== c.name) body.name = name;
    if (!Object.keys(body).length) { $('settings-editor').hidden = true; editing = null; return; }
    error.hidden = true;
    run(function () { return api('PATCH', '/api/v1/admin/clinics/' + encodeURIComponent(c.business_id), body); }, function () {
      $('settings-editor').hidden = true;
      editing = null;
      notice('Settings of ' + name + ' saved.');
    }, function (res) {
      error.textContent = errorText(res);
      error.hidden = false;
      return true;
    });
  });

  $('create-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var error = $('create-error');
    var body = {
      name: $('c-name').value.trim(),
      slug: $('c-slug').value.trim().toLowerCase(),
      timezone: $('c-timezone').value.trim() || 'Asia/Kolkata',
      status: $('c-status').value,
      staff_email: $('c-email').value.trim(),
      staff_password: $('c-password').value
    };
    error.hidden = true;
    run(function () { return api('POST', '/api/v1/admin/clinics', body); }, function (res) {
      $('create-form').reset();
      notice('Clinic ' + res.data.clinic.name + ' created. Staff login: ' + res.data.staff_user.email + '.');
    }, function (res) {
      error.textContent = errorText(res);
      error.hidden = false;
      return true;
    });
  });

  load();
  // Usage numbers move during the day; the panel follows without hammering the server.
  setInterval(function () { if (!busy && !editing && !senderOf) load(); }, 30000);
})();
