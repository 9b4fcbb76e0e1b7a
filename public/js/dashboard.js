// Progressive enhancement for the dashboard: a copy button for the referral link.
// Without JavaScript the button stays hidden and the link can be selected by hand.
(function () {
  'use strict';
  document.querySelectorAll('.copy-button').forEach(function (button) {
    var input = document.getElementById(button.getAttribute('data-copy-target'));
    var status = button.closest('dd') ? button.closest('dd').querySelector('.copy-status') : null;
    if (!input) return;
    button.hidden = false;
    function say(text) {
      if (status) status.textContent = text;
    }
    function fallbackCopy() {
      input.focus();
      input.select();
      try {
        return document.execCommand('copy');
      } catch {
        return false;
      }
    }
    button.addEventListener('click', function () {
      var done = function () {
        button.textContent = 'Copied!';
        say('Link copied to the clipboard.');
        setTimeout(function () {
          button.textContent = 'Copy link';
        }, 2000);
      };
      var failed = function () {
        input.select();
        say('Press Ctrl+C (or long-press and Copy) to copy the selected link.');
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () {
          if (fallbackCopy()) done();
          else failed();
        });
      } else if (fallbackCopy()) {
        done();
      } else {
        failed();
      }
    });
  });
})();
