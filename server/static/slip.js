// The token slip: the Print button prints it, and a slip opened to be printed
// (`?print=1`, from the desk or the kiosk) opens the print dialog at once. After a kiosk
// join the page goes back to the kiosk's blank form by itself: the timer is set before
// printing, so a printer that never answers (or a dialog nobody closes) cannot hold it.
(function () {
  'use strict';
  var slip = document.getElementById('slip');
  var button = document.getElementById('slip-print');
  var done = document.getElementById('kiosk-done');
  if (button) {
    button.hidden = false;
    button.addEventListener('click', function () { window.print(); });
  }
  if (done) {
    var back = done.getAttribute('data-return');
    var seconds = parseInt(done.getAttribute('data-return-seconds'), 10) || 10;
    var gone = false;
    var leave = function () {
      if (!gone) { gone = true; window.location.replace(back); }
    };
    window.setTimeout(leave, seconds * 1000);
    window.addEventListener('afterprint', function () { window.setTimeout(leave, 3000); });
  }
  if (slip && slip.getAttribute('data-print') === '1') {
    window.addEventListener('load', function () { window.print(); });
  }
})();
