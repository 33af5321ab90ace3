// The token slip: the Print button prints it, and a slip opened to be printed
// (`?print=1`, from the desk) opens the print dialog at once. A printer that never answers
// leaves the page as it was: nothing here waits for it.
(function () {
  'use strict';
  var slip = document.getElementById('slip');
  var button = document.getElementById('slip-print');
  if (button) {
    button.hidden = false;
    button.addEventListener('click', function () { window.print(); });
  }
  if (slip && slip.getAttribute('data-print') === '1') {
    window.addEventListener('load', function () { window.print(); });
  }
})();
