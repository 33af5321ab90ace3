// Intake page (and the kiosk's): the form posts to the server as plain HTML. This script
// only checks the mobile number (and, with several doctors, that one is picked) before
// sending, in the patient's language, and stops a second tap from taking a second token
// while the first request is on its way. At a kiosk the number is optional, a message
// goes back to the form by itself, and an untouched form reloads now and then.
(function () {
  'use strict';
  var message = document.getElementById('kiosk-message');
  if (message) {
    var seconds = parseInt(message.getAttribute('data-return-seconds'), 10) || 12;
    window.setTimeout(function () {
      window.location.replace(message.getAttribute('data-return'));
    }, seconds * 1000);
  }
  var form = document.getElementById('intake');
  if (!form) return;
  var optionalPhone = form.getAttribute('data-phone-optional') === '1';
  var kiosk = document.getElementById('kiosk');
  if (kiosk) {
    var every = (parseInt(kiosk.getAttribute('data-refresh'), 10) || 60) * 1000;
    var touched = Date.now();
    form.addEventListener('input', function () { touched = Date.now(); });
    window.setInterval(function () {
      var typed = form.elements.patient_name.value || form.elements.patient_phone.value;
      // A form left half-filled for long is the last patient's: it is cleared too. (A GET
      // of the same address: never the form's POST again.)
      var idle = Date.now() - touched;
      if (idle >= (typed ? 3 * every : every)) window.location.replace(window.location.pathname + window.location.search);
    }, every);
  }
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
    var skipPhone = optionalPhone && !phone.value.trim();
    if (!skipPhone && !plausiblePhone(phone.value)) { event.preventDefault(); showError(T.err_phone, phone); return; }
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
