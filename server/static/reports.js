// The operator's reports page: the server renders the figures, charts and tables; this
// script only sends the plan forms to the REST API (create a plan, change its terms, move
// a clinic to a plan) and reloads the page to show the result. Amounts are typed in rupees
// and sent as integer paise, converted as text (never through a float). The extension
// checks and audits every change; its refusal is shown as it says it. The API call, errors
// and login come from qlink.js.
(function () {
  'use strict';
  var Q = window.QLink;
  var $ = Q.$, api = Q.api, errorText = Q.errorText, showError = Q.showError, clearError = Q.clearError;
  var NETWORK = 'Network error: the server could not be reached. Check the connection and try again.';
  Q.wireLogin(NETWORK);

  var root = $('admin-reports');
  if (!root || !$('plans')) return;
  var busy = false;

  function field(form, name) {
    return Array.prototype.filter.call(form.elements, function (x) { return x.name === name; })[0];
  }
  function value(form, name) { var e = field(form, name); return e ? e.value.trim() : ''; }

  // "12.5" → 1250, "999" → 99900; anything else is null (the inputs' pattern says so too).
  function paise(text) {
    var m = /^([0-9]{1,9})(?:\.([0-9]{1,2}))?$/.exec(text);
    if (!m) return null;
    var cents = m[2] ? (m[2] + '0').slice(0, 2) : '00';
    return parseInt(m[1], 10) * 100 + parseInt(cents, 10);
  }
  function whole(text) { return /^[0-9]{1,10}$/.test(text) ? parseInt(text, 10) : null; }

  // A plan's terms from a form, or the name of the first field that is not valid.
  function terms(form) {
    var out = {
      name: value(form, 'name'),
      monthly_fee_paise: paise(value(form, 'monthly_fee')),
      included_tokens: whole(value(form, 'included_tokens')),
      included_messages: whole(value(form, 'included_messages')),
      extra_token_paise: paise(value(form, 'extra_token')),
      extra_message_paise: paise(value(form, 'extra_message'))
    };
    var labels = {
      monthly_fee_paise: 'Monthly fee', included_tokens: 'Tokens included', included_messages: 'Messages included',
      extra_token_paise: 'Extra token', extra_message_paise: 'Extra message'
    };
    for (var k in labels) {
      if (out[k] === null) return { error: labels[k] + ': enter an amount of 0 or more (rupees, up to two decimals).' };
    }
    return { body: out };
  }

  function request(form) {
    switch (form.getAttribute('data-op')) {
      case 'create_plan':
        var t = terms(form);
        if (t.error) return t;
        t.body.code = value(form, 'code');
        return { call: ['POST', '/api/v1/admin/plans', t.body], done: 'plan_added' };
      case 'update_plan':
        var u = terms(form);
        if (u.error) return u;
        return { call: ['PATCH', '/api/v1/admin/plans/' + encodeURIComponent(form.getAttribute('data-code')), u.body], done: 'plan_saved' };
      case 'set_plan':
        return {
          call: ['PUT', '/api/v1/admin/clinics/' + encodeURIComponent(value(form, 'business_id')) + '/plan', { plan_code: value(form, 'plan_code') }],
          done: 'clinic_moved'
        };
    }
    return null;
  }

  function done(key) {
    var params = new URLSearchParams(location.search);
    params.set('done', key);
    location.replace(location.pathname + '?' + params.toString() + '#plans');
  }

  function setBusy(on) {
    busy = on;
    root.setAttribute('aria-busy', on ? 'true' : 'false');
    Array.prototype.forEach.call($('plans').querySelectorAll('button[type=submit]'), function (b) { b.disabled = on; });
  }

  $('plans').addEventListener('submit', function (event) {
    var r = request(event.target);
    if (!r) return;
    event.preventDefault();
    if (busy) return;
    clearError();
    Q.notice('');
    if (r.error) { showError(r.error); $('message').scrollIntoView({ block: 'center' }); return; }
    setBusy(true);
    api(r.call[0], r.call[1], r.call[2]).then(function (res) {
      if (res.status === 401) { location.reload(); return; }
      if (res.status >= 200 && res.status < 300) { done(r.done); return; }
      setBusy(false);
      showError(errorText(res));
      $('message').scrollIntoView({ block: 'center' });
    }, function () { setBusy(false); showError(NETWORK); });
  });
})();
