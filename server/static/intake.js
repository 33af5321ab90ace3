// Intake page: the form posts to the server as plain HTML. This script only checks the
// mobile number (and, with several doctors, that one is picked) before sending, in the
// patient's language, and stops a second tap from taking a second token while the first
// request is on its way.
(function () {
  'use strict';
  var form = document.getElementById('intake');
  if (!form) return;
  var T = JSON.parse(form.getAttribute('data-i18n') || '{}');
  var button = document.getElementById('join');
  var errorBox = document.getElementById('form-error');
  var label = button.textContent;
  var sent = false;

  function showError(message, field) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    if (field) field.focus();
  }

  // Indian mobiles: 10 digits starting 6-9, optionally 0 / 91 / +91 in front; other
  // countries as +<country><number>. The server decides; this only catches typos early.
  function plausiblePhone(raw) {
    var s = raw.replace(/[\s\-().]/g, '');
    if (/^\+/.test(s)) return /^\+[1-9]\d{7,14}$/.test(s);
    return /^(0|91)?[6-9]\d{9}$/.test(s);
  }

  form.addEventListener('submit', function (event) {
    if (sent) { event.preventDefault(); return; }
    // A clinic with several doctors: one must be picked.
    var lines = form.querySelectorAll('input[name=queue_id]');
    if (lines.length && !form.querySelector('input[name=queue_id]:checked')) {
      event.preventDefault();
      var first = form.querySelector('input[name=queue_id]:not(:disabled)');
      showError(T.err_pick_line, first);
      return;
    }
    var name = form.elements.patient_name;
    var phone = form.elements.patient_phone;
    if (!name.value.trim()) { event.preventDefault(); showError(T.err_name, name); return; }
    if (!plausiblePhone(phone.value)) { event.preventDefault(); showError(T.err_phone, phone); return; }
    sent = true;
    button.disabled = true;
    button.textContent = T.joining;
  });

  // Coming back with the browser's Back button restores this page from its cache:
  // make the button usable again.
  window.addEventListener('pageshow', function () {
    sent = false;
    button.disabled = false;
    button.textContent = label;
  });
})();
