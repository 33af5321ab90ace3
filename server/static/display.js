// Lobby display: polls /c/{slug}/display.json (numbers only) and, when a new number is
// called, chimes (WebAudio) and speaks it (speechSynthesis) in each language shown. Call-outs
// are queued and played strictly one after another, never overlapping. Browsers only allow
// sound after a tap, hence the "turn on sound" button; the screen still updates without it.
(function () {
  'use strict';
  function $(x) { return document.getElementById(x); }
  var root = $('display');
  if (!root) return;
  var slug = root.getAttribute('data-slug');
  var callouts = JSON.parse(root.getAttribute('data-callouts'));
  var m = /[?&]poll=(\d+)/.exec(location.search);
  var interval = (m ? Math.min(5, Math.max(1, +m[1])) : 3) * 1000;
  var shown = $('now').textContent.trim();
  var current = /^\d+$/.test(shown) ? +shown : null;
  var pending = [], speaking = false, soundOn = false, audio = null, log = [];
  var MAX_PENDING = 3;

  function fmt(s, args) {
    return String(s).replace(/\{(\w+)\}/g, function (all, k) { return k in args ? String(args[k]) : all; });
  }

  // A short record of what was announced, in order (for whoever checks the screen).
  function record(event) {
    log.push(event);
    if (log.length > 20) log.shift();
    root.setAttribute('data-call-log', log.join(' '));
  }

  function chime() {
    return new Promise(function (resolve) {
      if (!soundOn || !audio) { resolve(); return; }
      try {
        var t = audio.currentTime;
        [[880, 0], [660, 0.45]].forEach(function (note) {
          var osc = audio.createOscillator(), gain = audio.createGain();
          osc.type = 'sine';
          osc.frequency.value = note[0];
          gain.gain.setValueAtTime(0.0001, t + note[1]);
          gain.gain.exponentialRampToValueAtTime(0.5, t + note[1] + 0.03);
          gain.gain.exponentialRampToValueAtTime(0.0001, t + note[1] + 0.6);
          osc.connect(gain).connect(audio.destination);
          osc.start(t + note[1]);
          osc.stop(t + note[1] + 0.65);
        });
      } catch (e) { /* no audio device: the screen still shows the number */ }
      setTimeout(resolve, 1200);
    });
  }

  function voiceFor(tag) {
    var voices = window.speechSynthesis.getVoices() || [];
    var base = tag.split('-')[0];
    return voices.filter(function (v) { return v.lang === tag; })[0] ||
      voices.filter(function (v) { return (v.lang || '').split(/[-_]/)[0] === base; })[0] || null;
  }

  function speak(text, lang) {
    return new Promise(function (resolve) {
      if (!soundOn || !('speechSynthesis' in window)) { resolve(); return; }
      var done = false, guard = null;
      function finish() { if (done) return; done = true; clearTimeout(guard); resolve(); }
      var u = new SpeechSynthesisUtterance(text);
      u.lang = lang === 'hi' ? 'hi-IN' : 'en-IN';
      var voice = voiceFor(u.lang);
      if (voice) u.voice = voice;
      u.rate = 0.9;
      u.onend = finish;
      u.onerror = finish;
      // Some engines never fire onend: don't let one lost event silence the lobby.
      guard = setTimeout(finish, 15000);
      window.speechSynthesis.speak(u);
    });
  }

  function pump() {
    if (speaking || !pending.length) return;
    speaking = true;
    var n = pending.shift();
    record('start:' + n);
    var now = $('now');
    now.classList.remove('flash');
    void now.offsetWidth; // restart the animation
    now.classList.add('flash');
    var chain = chime();
    callouts.forEach(function (c) {
      chain = chain.then(function () { return speak(fmt(c.text, { n: n }), c.lang); });
    });
    chain.then(null, function () { /* a failed call-out must not stop the queue */ }).then(function () {
      record('end:' + n);
      speaking = false;
      pump();
    });
  }

  function announce(n) {
    pending.push(n);
    // A burst of NEXT presses: announce the latest few, not a backlog of stale numbers.
    while (pending.length > MAX_PENDING) pending.shift();
    pump();
  }

  function render(d) {
    $('clinic-name').textContent = d.clinic_name;
    $('now').textContent = d.now_serving_number === null ? '—' : d.now_serving_number;
    var list = $('next-list');
    list.textContent = '';
    d.next_numbers.forEach(function (n) {
      var li = document.createElement('li');
      li.textContent = String(n);
      list.appendChild(li);
    });
    $('next-empty').hidden = d.next_numbers.length > 0;
    if (d.now_serving_number !== current) {
      current = d.now_serving_number;
      if (current !== null) announce(current);
    }
  }

  function poll() {
    fetch('/c/' + encodeURIComponent(slug) + '/display.json', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(function (d) { render(d); setTimeout(poll, interval); }, function () { setTimeout(poll, Math.max(interval, 5000)); });
  }

  // Keep a tablet's screen on while it serves as the lobby display.
  var wakeLock = null;
  function keepAwake() {
    if (!('wakeLock' in navigator) || document.visibilityState !== 'visible') return;
    navigator.wakeLock.request('screen').then(function (lock) { wakeLock = lock; }, function () { /* not allowed here */ });
  }
  document.addEventListener('visibilitychange', function () { if (!wakeLock || wakeLock.released) keepAwake(); });

  var soundButton = $('sound-on');
  soundButton.addEventListener('click', function () {
    soundOn = true;
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (Ctx && !audio) {
      try { audio = new Ctx(); audio.resume(); } catch (e) { audio = null; }
    }
    soundButton.hidden = true;
    keepAwake();
  });

  keepAwake();
  poll();
})();
