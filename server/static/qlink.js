// Shared by the staff dashboard and the operator panel (loaded before staff.js / admin.js):
// the JSON API call, its error text, the message and notice boxes, the login and logout
// forms. One copy, so both pages send the same requests and show errors the same way.
// Every value is written with textContent.
(function () {
  'use strict';
  function $(x) { return document.getElementById(x); }

  // Every call answers { status, data } (data null when the body is not JSON); a network
  // failure rejects.
  function api(method, path, body) {
    var init = { method: method, credentials: 'same-origin', cache: 'no-store', headers: {} };
    if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
    return fetch(path, init).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (data) { return { status: r.status, data: data }; });
    });
  }

  function errorText(res) {
    return res.data && res.data.error && res.data.error.message ? res.data.error.message : 'The request failed (HTTP ' + res.status + ').';
  }

  function showError(text) { var box = $('message'); box.textContent = text; box.hidden = false; }
  function clearError() { var box = $('message'); box.hidden = true; box.textContent = ''; }
  function errorShown() { var box = $('message'); return box.hidden ? '' : box.textContent; }
  function notice(text) { var box = $('notice'); box.textContent = text; box.hidden = !text; }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // The login form and the logout button, where the page has them: the server decides
  // which screen to show, so both reload the page once done.
  function wireLogin(network) {
    var login = $('login');
    if (login) {
      login.addEventListener('submit', function (event) {
        event.preventDefault();
        var button = $('login-button');
        button.disabled = true;
        clearError();
        api('POST', '/api/v1/auth/login', { email: $('email').value, password: $('password').value }).then(function (res) {
          if (res.status === 200) { location.reload(); return; }
          button.disabled = false;
          showError(errorText(res));
        }, function () { button.disabled = false; showError(network); });
      });
      $('email').focus();
    }
    var logout = $('logout');
    if (logout) {
      logout.addEventListener('click', function () {
        logout.disabled = true;
        api('POST', '/api/v1/auth/logout').then(function () { location.reload(); }, function () { logout.disabled = false; showError(network); });
      });
    }
  }

  window.QLink = {
    $: $, api: api, errorText: errorText, showError: showError, clearError: clearError,
    errorShown: errorShown, notice: notice, el: el, wireLogin: wireLogin
  };
})();
