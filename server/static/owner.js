// The clinic owner's page: the server renders the lines, rooms, logins and settings; each
// form here sends its change to the REST API (the owner's /api/v1/owner/…, or for the
// operator /api/v1/admin/clinics/{id}/…, named by data-api) and the page reloads to show
// the result. The extension checks every change; its refusal is shown as it says it. One
// request at a time. The API call, errors and login come from qlink.js.
(function () {
  'use strict';
  var Q = window.QLink;
  var $ = Q.$, api = Q.api, errorText = Q.errorText, showError = Q.showError, clearError = Q.clearError;
  var NETWORK = 'Network error: the server could not be reached. Check the connection and try again.';
  Q.wireLogin(NETWORK);

  var root = $('owner');
  if (!root) return;
  var base = root.getAttribute('data-api');
  var settingsApi = root.getAttribute('data-settings-api');
  var clinic = root.getAttribute('data-clinic');
  var busy = false;

  // A form's fields, with those outside it that name it (form="…"): a table row's inputs.
  function fields(form) { return Array.prototype.slice.call(form.elements); }
  function value(form, name) {
    var e = fields(form).filter(function (x) { return x.name === name; })[0];
    return e ? e.value : '';
  }
  function checked(form, name) {
    var e = fields(form).filter(function (x) { return x.name === name; })[0];
    return !!(e && e.checked);
  }
  function ticked(form, name) {
    return fields(form).filter(function (x) { return x.name === name && x.checked; }).map(function (x) { return x.value; });
  }
  function order(form) {
    var raw = value(form, 'sort_order').trim();
    return raw === '' ? undefined : Number(raw);
  }

  function settingsPatch(form) {
    var patch = {};
    fields(form).forEach(function (e) {
      var name = e.getAttribute('data-setting');
      if (!name) return;
      var kind = e.getAttribute('data-kind');
      if (kind === 'languages') {
        // One box per language, in the page's order: the ticked ones, as a list.
        patch[name] = patch[name] || [];
        if (e.checked) patch[name].push(e.value);
        return;
      }
      patch[name] = kind === 'boolean' ? e.checked : kind === 'integer' ? Number(e.value) : e.value;
    });
    return { settings: patch };
  }

  // What each form asks of the API: [method, path, body, what to say once done].
  function request(form) {
    var id = form.getAttribute('data-id');
    switch (form.getAttribute('data-op')) {
      case 'create_queue':
        return ['POST', base + '/queues', { name: value(form, 'name'), prefix: value(form, 'prefix').trim() }, 'queue_added'];
      case 'update_queue':
        return ['PATCH', base + '/queues/' + id, {
          name: value(form, 'name'), prefix: value(form, 'prefix').trim(), is_active: checked(form, 'is_active'), sort_order: order(form)
        }, 'queue_saved'];
      case 'create_room':
        return ['POST', base + '/rooms', { name: value(form, 'name'), queue_ids: ticked(form, 'queue_ids') }, 'room_added'];
      case 'update_room':
        return ['PATCH', base + '/rooms/' + id, {
          name: value(form, 'name'), queue_ids: ticked(form, 'queue_ids'), is_active: checked(form, 'is_active'), sort_order: order(form)
        }, 'room_saved'];
      case 'create_staff':
        var login = { email: value(form, 'email'), password: value(form, 'password'), role: value(form, 'role') };
        if (value(form, 'room_id')) login.room_id = value(form, 'room_id');
        return ['POST', base + '/staff', login, 'staff_added'];
      case 'staff_active':
        return ['PATCH', base + '/staff/' + id, { is_active: value(form, 'is_active') === 'true' }, 'staff_saved'];
      case 'staff_end':
        return ['POST', base + '/staff/' + id + '/end-sessions', undefined, 'sessions_ended'];
      case 'staff_reset':
        return ['POST', base + '/staff/' + id + '/password', { password: value(form, 'password') }, 'password_reset'];
      case 'settings':
        return ['PATCH', settingsApi, settingsPatch(form), 'settings_saved'];
    }
    return null;
  }

  function done(key) {
    var query = (clinic ? 'clinic=' + encodeURIComponent(clinic) + '&' : '') + 'done=' + encodeURIComponent(key);
    location.replace(location.pathname + '?' + query);
  }

  function setBusy(on) {
    busy = on;
    root.setAttribute('aria-busy', on ? 'true' : 'false');
    Array.prototype.forEach.call(root.querySelectorAll('button[type=submit]'), function (b) { b.disabled = on; });
  }

  root.addEventListener('submit', function (event) {
    var form = event.target;
    var r = request(form);
    if (!r) return;
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    clearError();
    Q.notice('');
    api(r[0], r[1], r[2]).then(function (res) {
      if (res.status === 401) { location.reload(); return; }
      if (res.status >= 200 && res.status < 300) { done(r[3]); return; }
      setBusy(false);
      showError(errorText(res));
      $('message').scrollIntoView({ block: 'center' });
    }, function () { setBusy(false); showError(NETWORK); });
  });
})();
