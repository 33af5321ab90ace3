// Lobby display: polls /c/{slug}/display.json (numbers and labels only) and, when a new
// token is called, chimes (WebAudio) and speaks it (speechSynthesis) in each language shown:
// "Token number 12, please come in", or in a clinic with several rooms "Token A-12, Room 2"
// (also written under the big number). Call-outs are queued and played strictly one after
// another, never overlapping. Browsers only allow sound after a tap, hence the "turn on
// sound" button; the screen still updates without it.
(function () {
  'use strict';
  function $(x) { return document.getElementById(x); }
  var root = $('display');
  if (!root) return;
  var slug = root.getAttribute('data-slug');
  var room = root.getAttribute('data-room');
  var callouts = JSON.parse(root.getAttribute('data-callouts'));
  var initial = JSON.parse(root.getAttribute('data-state') || '{}');
  var m = /[?&]poll=(\d+)/.exec(location.search);
  var interval = (m ? Math.min(5, Math.max(1, +m[1])) : 3) * 1000;
  var current = initial.now_serving_number === undefined ? null : initial.now_serving_number;
  // What each room is serving (label), as last shown: a change is a new call.
  var serving = {};
  (initial.rooms || []).forEach(function (r) { serving[r.room_id] = r.serving_label; });
  var pending = [], speaking = false, soundOn = false, audio = null, log = [];
  var MAX_PENDING = 3;

  // More than two languages: the labels under the first one show each of the others in
  // turn, a few seconds each.
  var rotations = +(root.getAttribute('data-rotations') || 0);
  if (rotations > 1) {
    var turn = 0;
    setInterval(function () {
      turn = (turn + 1) % rotations;
      var spans = document.querySelectorAll('[data-rotate]');
      for (var i = 0; i < spans.length; i++) spans[i].hidden = +spans[i].getAttribute('data-rotate') !== turn;
      root.setAttribute('data-turn', String(turn));
    }, 6000);
  }

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
      u.lang = lang;
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

  // A call: { key, label, room } (room null in a clinic with one room).
  function pump() {
    if (speaking || !pending.length) return;
    speaking = true;
    var call = pending.shift();
    record('start:' + call.key);
    var now = $('now');
    var texts = callouts.map(function (c) {
      return call.room ? fmt(c.room_text, { n: call.label, room: call.room }) : fmt(c.text, { n: call.label });
    });
    var callText = $('call-text');
    callText.textContent = call.room ? texts.join(' \u00b7 ') : '';
    callText.hidden = !call.room;
    now.classList.remove('flash');
    void now.offsetWidth; // restart the animation
    now.classList.add('flash');
    var chain = chime();
    callouts.forEach(function (c, i) {
      chain = chain.then(function () { return speak(texts[i], c.tag || 'en-IN'); });
    });
    chain.then(null, function () { /* a failed call-out must not stop the queue */ }).then(function () {
      record('end:' + call.key);
      speaking = false;
      pump();
    });
  }

  function announce(call) {
    pending.push(call);
    // A burst of NEXT presses: announce the latest few, not a backlog of stale numbers.
    while (pending.length > MAX_PENDING) pending.shift();
    pump();
  }

  function renderRooms(rooms) {
    var list = $('rooms');
    if (!list) return;
    var idle = list.getAttribute('data-idle') || '\u2014';
    list.textContent = '';
    rooms.forEach(function (r) {
      var li = document.createElement('li');
      li.setAttribute('data-room-id', r.room_id);
      var name = document.createElement('span');
      name.className = 'room-name';
      name.textContent = r.room_name;
      var label = document.createElement('span');
      label.className = 'room-label';
      label.textContent = r.serving_label === null ? idle : r.serving_label;
      li.appendChild(name);
      li.appendChild(label);
      list.appendChild(li);
    });
  }

  // Each line's waiting labels under the rooms that call from it: a patient holding only a
  // printed slip finds their number and where they will go.
  function renderLines(lines) {
    var board = $('line-board');
    if (!board || !lines) return;
    var none = board.getAttribute('data-none') || '\u2014';
    board.textContent = '';
    lines.forEach(function (l) {
      var li = document.createElement('li');
      li.className = 'line-column';
      li.setAttribute('data-queue-id', l.queue_id);
      var head = document.createElement('p');
      head.className = 'line-head';
      var name = document.createElement('span');
      name.className = 'line-name';
      name.textContent = l.queue_name;
      head.appendChild(name);
      if (l.rooms.length) {
        var rooms = document.createElement('span');
        rooms.className = 'line-rooms';
        rooms.textContent = '\u2192 ' + l.rooms.join(' / ');
        head.appendChild(rooms);
      }
      li.appendChild(head);
      if (l.waiting_labels.length) {
        var ol = document.createElement('ol');
        ol.className = 'line-waiting';
        l.waiting_labels.forEach(function (w) {
          var item = document.createElement('li');
          item.textContent = String(w);
          ol.appendChild(item);
        });
        li.appendChild(ol);
      } else {
        var empty = document.createElement('p');
        empty.className = 'line-empty';
        empty.textContent = none;
        li.appendChild(empty);
      }
      board.appendChild(li);
    });
  }

  function render(d) {
    $('clinic-name').textContent = d.clinic_name;
    renderLines(d.lines);
    var list = $('next-list');
    list.textContent = '';
    (d.next_labels || d.next_numbers).forEach(function (n) {
      var li = document.createElement('li');
      li.textContent = String(n);
      list.appendChild(li);
    });
    $('next-empty').hidden = d.next_numbers.length > 0;
    // Patients who stepped out keep their place but are passed over: shown apart.
    var away = d.away_labels || [], awayList = $('away-list');
    awayList.textContent = '';
    away.forEach(function (l) {
      var li = document.createElement('li');
      li.textContent = String(l);
      awayList.appendChild(li);
    });
    $('away').hidden = away.length === 0;
    if (d.rooms) {
      // Several rooms: each room that calls someone new is announced with its name.
      var named = d.rooms.length > 1 || !!room;
      renderRooms(d.rooms);
      d.rooms.forEach(function (r) {
        var before = serving[r.room_id];
        serving[r.room_id] = r.serving_label;
        if (r.serving_label !== null && r.serving_label !== before) {
          announce({ key: r.serving_label + (named ? '@' + r.room_name : ''), label: r.serving_label, room: named ? r.room_name : null });
        }
      });
      // The big number is the latest call, with its room.
      $('now').textContent = d.serving_label === null ? '\u2014' : d.serving_label;
      var latest = named && d.serving_label !== null
        ? d.rooms.filter(function (r) { return r.serving_label === d.serving_label; })[0] : null;
      $('now-room').hidden = !latest;
      $('now-room').textContent = latest ? '\u2192 ' + latest.room_name : '';
      current = d.now_serving_number;
      return;
    }
    $('now').textContent = d.now_serving_number === null ? '\u2014' : d.now_serving_number;
    if (d.now_serving_number !== current) {
      current = d.now_serving_number;
      if (current !== null) announce({ key: String(current), label: String(current), room: null });
    }
  }

  function poll() {
    var url = '/c/' + encodeURIComponent(slug) + '/display.json' + (room ? '?room=' + encodeURIComponent(room) : '');
    fetch(url, { cache: 'no-store' })
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
