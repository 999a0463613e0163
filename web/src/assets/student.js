// student.js: the student play page. Joins with POST /api/join (the server
// sets the HttpOnly qw_student cookie; this script never sees the token),
// asking for the shapes on the big screen when the quiz wants a two-step
// join, then follows the session over /ws and rebuilds its exact state from every
// `snapshot` (after a reload, a sleep or a dropped network). All server and
// user text goes in with textContent, never innerHTML.
'use strict';

(() => {
  const { el, $, setText, clear, shape, banner, Socket, Countdown, api, ordinal, LABELS, KINDS, drawChart, rightLabels } = QW;
  const STORE = 'qw_student_seat'; // {sid, student_id, name, join_code}: who this browser joined as (no secret)
  const KEY_STORE = 'qw_join_key'; // this browser's random join key (myJoinKey)

  const st = {
    seat: null,
    socket: null,
    state: null,          // lobby | question | closed | ended
    qIdx: -1,
    qCount: 0,
    choices: [],
    kind: 'single',       // single | multi | truefalse | poll (docs/API.md "Kinds of question")
    picked: [],           // multi: the labels toggled on, not yet sent
    myChoice: null,       // choice the server acknowledged ("A"; a multi's set as "AC")
    pending: null,        // choice sent, not yet acknowledged
    resends: 0,
    refusals: 0,          // upgrades refused in a row while the server was healthy
    score: 0,
    players: 0,
    announced: {},
    twoStep: false,       // the session asked for the shapes on the big screen
    shapes: [],           // the shapes tapped so far
  };
  const SHAPE_COUNT = 6;
  const SHAPE_LABEL = { triangle: 'A', diamond: 'B', circle: 'C', square: 'D' };

  const countdown = new Countdown((ms, frac) => {
    const s = Math.ceil(ms / 1000);
    setText('q-seconds', s);
    $('q-timebar').style.transform = 'scaleX(' + frac.toFixed(4) + ')';
    $('view-question').classList.toggle('hurry', s <= 5);
    // Announce a few moments only, politely: never every second.
    for (const mark of [10, 5]) {
      if (s === mark && !st.announced[mark] && st.state === 'question') {
        st.announced[mark] = true;
        setText('live-timer', mark + ' seconds left');
      }
    }
    if (ms <= 0 && st.state === 'question' && !st.announced.up) {
      st.announced.up = true;
      setText('live-timer', 'Time is up');
      if (!st.myChoice) lockButtons(null);
      if (!st.myChoice && !st.pending) showStatus("Time's up — waiting for the answer…", 'info');
    }
  });

  function announce(text) { setText('live', ''); setTimeout(() => setText('live', text), 30); }

  function show(view) {
    for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== 'view-' + view;
    document.body.dataset.view = view;
  }

  function loadSeat() {
    try { return JSON.parse(localStorage.getItem(STORE) || 'null'); } catch (e) { return null; }
  }
  // This browser's join key: made once (128 random bits), kept, and sent
  // with every join, so a join retried after its answer was lost is
  // admitted as the same student instead of 409 student_id_taken. Without
  // storage (private mode) it lasts as long as the page.
  let joinKey = null;
  function myJoinKey() {
    if (joinKey) return joinKey;
    try { joinKey = localStorage.getItem(KEY_STORE); } catch (e) { joinKey = null; }
    if (!joinKey || !/^[0-9a-f]{32}$/.test(joinKey)) {
      const bytes = crypto.getRandomValues(new Uint8Array(16));
      joinKey = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
      try { localStorage.setItem(KEY_STORE, joinKey); } catch (e) { /* private mode */ }
    }
    return joinKey;
  }
  function saveSeat(seat) {
    st.seat = seat;
    try { if (seat) localStorage.setItem(STORE, JSON.stringify(seat)); else localStorage.removeItem(STORE); } catch (e) { /* private mode */ }
  }

  function setScore(score) {
    if (typeof score !== 'number') return;
    st.score = score;
    setText('score-top', score);
    $('score-pill').hidden = false;
  }

  function showWho() {
    if (!st.seat) { $('who').hidden = true; return; }
    setText('who', st.seat.name || st.seat.student_id);
    $('who').hidden = false;
  }

  // ---- join ----------------------------------------------------------------

  function showJoin(note) {
    if (st.socket) { st.socket.stop(); st.socket = null; }
    countdown.stop();
    $('who').hidden = true;
    $('score-pill').hidden = true;
    const n = $('join-note');
    if (note) { n.textContent = note; n.hidden = false; } else n.hidden = true;
    show('join');
    const code = $('join-code');
    if (!code.value) code.focus(); else if (!$('student-id').value) $('student-id').focus();
  }

  function joinError(text, field) {
    const e = $('join-error');
    e.textContent = text;
    e.hidden = false;
    for (const id of ['join-code', 'student-id', 'display-name']) $(id).removeAttribute('aria-invalid');
    if (field) { $(field).setAttribute('aria-invalid', 'true'); $(field).focus(); }
  }

  // ---- two-step join: the shapes on the big screen ---------------------------

  function renderShapes() {
    const box = $('ts-entered');
    clear(box);
    for (let i = 0; i < SHAPE_COUNT; i++) {
      const name = st.shapes[i];
      box.append(name ? el('span.ts-slot.filled.ans-' + SHAPE_LABEL[name], null, shape(SHAPE_LABEL[name])) : el('span.ts-slot'));
    }
    box.setAttribute('aria-label', st.shapes.length ? 'Tapped: ' + st.shapes.join(', ') : 'No shapes tapped yet');
  }

  function askShapes(note) {
    st.twoStep = true;
    st.shapes = [];
    renderShapes();
    $('two-step').hidden = false;
    if (note) joinError(note, null);
    const first = document.querySelector('.ts-btn');
    if (first) first.focus();
  }

  function onShape(name) {
    if (st.shapes.length >= SHAPE_COUNT) return;
    st.shapes.push(name);
    renderShapes();
    if (st.shapes.length === SHAPE_COUNT) $('join-form').requestSubmit();
  }

  async function onJoin(ev) {
    ev.preventDefault();
    $('join-error').hidden = true;
    const code = $('join-code').value.replace(/\s+/g, '');
    const sid = $('student-id').value.trim();
    const name = $('display-name').value.trim();
    if (!/^[0-9]{6}$/.test(code)) return joinError('The game code is the 6 digits on the big screen.', 'join-code');
    if (!sid) return joinError('Enter your student id.', 'student-id');
    if (sid.length > 64) return joinError('Your student id can be at most 64 characters.', 'student-id');
    if (!name) return joinError('Enter the name to show to the class.', 'display-name');
    if (name.length > 40) return joinError('Your name can be at most 40 characters.', 'display-name');
    const btn = $('join-button');
    btn.disabled = true;
    btn.textContent = 'Joining…';
    const body = { join_code: code, student_id: sid, name, join_key: myJoinKey() };
    if (st.twoStep) {
      if (st.shapes.length !== SHAPE_COUNT) return askShapes('Tap all ' + SHAPE_COUNT + ' shapes shown on the big screen.');
      body.shapes = st.shapes.slice();
    }
    // A join that got no answer (the network, or 502/504 from a load
    // balancer whose gateway died holding it) is sent again, twice at most:
    // the server admits one id once, and the same join key again as the
    // same student, so a second try never joins twice nor gets refused.
    let r;
    for (let attempt = 1; ; attempt++) {
      r = await api('POST', '/api/join', body);
      if (attempt === 3 || (r.status !== 0 && r.status !== 502 && r.status !== 504)) break;
      await new Promise((done) => setTimeout(done, 400 * attempt));
    }
    btn.disabled = false;
    btn.textContent = 'Join';
    if (r.status === 200 && r.json) {
      st.twoStep = false;
      st.shapes = [];
      $('two-step').hidden = true;
      saveSeat({ sid: r.json.sid, student_id: r.json.student_id || sid, name, join_code: code });
      showWho();
      connect();
      return;
    }
    if (r.status === 404) return joinError('No quiz has the code ' + code + '. Check the code on the big screen.', 'join-code');
    if (r.error === 'student_id_taken') {
      return joinError('The student id “' + sid + '” has already joined this quiz from another device. ' +
        'If that was you, go back to that device; otherwise check your id.', 'student-id');
    }
    if (r.error === 'two_step_required') return askShapes(null);
    if (r.error === 'two_step_wrong') {
      return askShapes('Those are not the shapes on the big screen. Look again and tap the ones shown now.');
    }
    if (r.error === 'session_locked') return joinError('The instructor has locked this quiz: no new players can join.', null);
    if (r.error === 'student_removed') return joinError('The instructor removed this student id from the quiz.', 'student-id');
    if (r.error === 'session_full') return joinError('This quiz is full: no more players can join.', null);
    if (r.error === 'session_ended') return joinError('This quiz has already ended.', 'join-code');
    if (r.status === 429) {
      return joinError('Too many wrong tries from this network. Wait ' + (r.retryAfter || 60) + ' seconds and try again.', null);
    }
    if (r.status === 503 || r.status === 0) {
      return joinError(r.status === 0 ? r.message : 'The server is busy. Please try again in a few seconds.', null);
    }
    return joinError(r.message || 'Joining failed (' + r.status + ').', null);
  }

  // ---- socket --------------------------------------------------------------

  function connect() {
    if (st.socket) st.socket.stop();
    st.refusals = 0;
    show('loading');
    st.socket = new Socket('/ws', {
      message: onMessage,
      open() { st.resends = 0; st.refusals = 0; },
      refused: async (code, opened, failsBeforeOpen) => {
        if (code === 4001) {
          saveSeat(null);
          showJoin('The instructor restarted the quiz. Please join again.');
          return true;
        }
        if (code === 4003) {
          saveSeat(null);
          showJoin('You were removed by the instructor.');
          return true;
        }
        if (code === 4008) { // a newer tab or device of this student took over
          showJoin('This quiz is open in too many tabs or devices. Join again here to continue.');
          return true;
        }
        // A browser cannot see an upgrade's status: when the upgrade fails
        // twice in a row and each time the server itself answers healthy
        // right after, our seat was refused (401). A failure while the
        // gateway is down (restarting) resets the count, so a restart that
        // comes back between two tries is never taken for a refusal.
        if (!opened && navigator.onLine !== false) {
          const h = await api('GET', '/healthz');
          st.refusals = h.status === 200 ? st.refusals + 1 : 0;
          if (st.refusals >= 2) {
            saveSeat(null);
            showJoin('Your place in that quiz is no longer valid. Please join again.');
            return true;
          }
        }
        return false;
      },
    });
    st.socket.connect();
  }

  function onMessage(m) {
    if (typeof m.remaining_ms === 'number' && st.state === 'question') countdown.sync(m.remaining_ms);
    switch (m.type) {
      case 'snapshot': return onSnapshot(m);
      case 'lobby_update': return onLobby(m);
      case 'question_open': return onQuestion(m, false);
      case 'submit_ack': return onAck(m);
      case 'question_closed': return onClosed(m);
      case 'session_ended': return onEnded(m);
      case 'error': return onError(m);
      default: return undefined;
    }
  }

  function onSnapshot(m) {
    setScore(m.score);
    st.qCount = m.question_count || st.qCount;
    if (typeof m.players === 'number') st.players = m.players;
    showWho();
    if (m.state === 'lobby') return showLobby();
    if (m.state === 'question' && m.question) {
      return onQuestion({
        question_idx: m.question_idx, text: m.question.text, choices: m.question.choices, kind: m.question.kind,
        time_limit_ms: m.question.time_limit_ms, remaining_ms: m.remaining_ms, my_choice: m.my_choice,
        image: m.question.image, image_alt: m.question.image_alt,
        time_factor: m.question.time_factor,
      }, true);
    }
    const kind = m.question && m.question.kind ? m.question.kind : 'single';
    if (m.state === 'closed' && (m.answer || m.answers || (kind === 'poll' && m.counts))) {
      // After a reload the snapshot carries the reveal: show it again.
      st.qIdx = m.question_idx;
      st.choices = m.question && Array.isArray(m.question.choices) ? m.question.choices : st.choices;
      st.kind = kind;
      return onClosed({
        question_idx: m.question_idx, kind, answer: m.answer, answers: m.answers, counts: m.counts,
        my_choice: m.my_choice, points: m.points, score: m.score,
      });
    }
    if (m.state === 'closed') {
      st.state = 'closed';
      countdown.stop();
      st.qIdx = m.question_idx;
      $('r-badge').className = 'badge';
      clear($('r-badge'));
      setText('r-title', 'Question ' + (m.question_idx + 1) + ' is closed');
      setText('r-points', m.my_choice ? 'You answered ' + m.my_choice + '.' : '');
      setText('r-answer', '');
      $('r-chart').hidden = true;
      setText('r-score', st.score);
      return show('reveal');
    }
    if (m.state === 'ended') return onEnded({ score: m.score, rank: m.rank, players: m.players });
    return showLobby();
  }

  function showLobby() {
    st.state = 'lobby';
    countdown.stop();
    setText('lobby-name', st.seat ? st.seat.name : '');
    setText('lobby-players', st.players);
    setText('lobby-players-word', st.players === 1 ? 'player' : 'players');
    show('lobby');
  }

  function onLobby(m) {
    if (typeof m.players === 'number') st.players = m.players;
    if (st.state === 'lobby') {
      setText('lobby-players', st.players);
      setText('lobby-players-word', st.players === 1 ? 'player' : 'players');
    }
  }

  function onQuestion(m, fromSnapshot) {
    const fresh = m.question_idx !== st.qIdx || st.state !== 'question';
    st.state = 'question';
    st.qIdx = m.question_idx;
    if (m.question_count) st.qCount = m.question_count;
    st.choices = Array.isArray(m.choices) ? m.choices.slice(0, LABELS.length) : [];
    st.kind = KINDS[m.kind] ? m.kind : 'single';
    if (fresh) { st.announced = {}; st.pending = null; st.picked = []; }
    st.myChoice = m.my_choice || (fresh ? null : st.myChoice);
    // a student with extra time sees that the timer is their own
    setText('q-progress', 'Question ' + (m.question_idx + 1) + (st.qCount ? ' of ' + st.qCount : '') +
      (m.time_factor > 1 ? ' · ' + m.time_factor + '× time' : ''));
    setText('q-text', m.text);
    // what this kind asks: nothing to add for a plain single question
    setText('q-kind', st.kind === 'single' ? '' : KINDS[st.kind]);
    $('q-kind').hidden = st.kind === 'single';
    $('q-kind').className = 'q-kind q-kind-' + st.kind;
    QWPictures.show($('q-figure'), m.image, m.image_alt || m.text);
    const box = $('answers');
    clear(box);
    box.classList.toggle('two', st.choices.length === 2);
    box.classList.toggle('many', st.choices.length > 4);
    box.classList.toggle('tf', st.kind === 'truefalse');
    box.dataset.kind = st.kind;
    st.choices.forEach((text, i) => {
      const label = LABELS[i];
      // The name is the visible letter and text themselves (WCAG 2.5.3
      // "label in name"); the shape is decoration beside the letter.
      const b = el('button.answer.ans-' + label, {
        type: 'button', 'data-choice': label,
        'aria-pressed': st.kind === 'multi' ? 'false' : null,
      }, shape(label), el('span.letter', { text: label }), el('span.sr-only', { text: ': ' }),
      el('span.choice-text', { text }));
      b.addEventListener('click', () => (st.kind === 'multi' ? toggle(label) : submit(label)));
      box.append(b);
    });
    $('q-submit').hidden = st.kind !== 'multi';
    renderPicked();
    $('q-status').hidden = true;
    countdown.sync(m.remaining_ms, m.time_limit_ms);
    show('question');
    if (st.myChoice) lockButtons(st.myChoice, true);
    else if (countdown.left() <= 0) lockButtons(null);
    if (fresh && !fromSnapshot) announce('Question ' + (m.question_idx + 1) + ': ' + m.text);
    else if (fresh) announce('Question ' + (m.question_idx + 1) + ' is open: ' + m.text);
  }

  // "A" or, for a multi's set "AC", "A, C".
  function setText2(choice) { return String(choice || '').split('').join(', '); }

  // `chosen`: a label, or a multi's set ("AC"): each of its labels is mine.
  function lockButtons(chosen, locked) {
    for (const b of $('answers').querySelectorAll('button')) {
      const mine = !!chosen && (st.kind === 'multi' ? chosen.includes(b.dataset.choice) : b.dataset.choice === chosen);
      b.disabled = true;
      b.classList.toggle('chosen', mine);
      b.classList.toggle('dimmed', !!chosen && !mine);
      b.setAttribute('aria-pressed', mine ? 'true' : 'false');
    }
    $('q-submit').disabled = true;
    if (chosen && locked) {
      showStatus((st.kind === 'poll' ? 'Vote ' : st.kind === 'multi' && chosen.length > 1 ? 'Answers ' : 'Answer ') +
        setText2(chosen) + ' locked in', 'ok');
    }
  }

  function unlockButtons() {
    for (const b of $('answers').querySelectorAll('button')) {
      b.disabled = false;
      b.classList.remove('chosen', 'dimmed');
      if (st.kind === 'multi') b.setAttribute('aria-pressed', 'false');
      else b.removeAttribute('aria-pressed');
    }
    renderPicked();
  }

  // multi: the toggled labels shown pressed, and Submit says how many.
  function renderPicked() {
    if (st.kind !== 'multi') return;
    for (const b of $('answers').querySelectorAll('button')) {
      const on = st.picked.includes(b.dataset.choice);
      b.classList.toggle('picked', on);
      if (!b.disabled) b.setAttribute('aria-pressed', on ? 'true' : 'false');
    }
    const n = st.picked.length;
    const btn = $('q-submit');
    btn.disabled = n === 0 || !!st.myChoice || !!st.pending;
    btn.textContent = n ? 'Submit ' + n + (n === 1 ? ' answer' : ' answers') : 'Pick your answers';
  }

  function toggle(label) {
    if (st.state !== 'question' || st.myChoice || st.pending || countdown.left() <= 0) return;
    if (!st.choices[LABELS.indexOf(label)]) return;
    st.picked = st.picked.includes(label) ? st.picked.filter((l) => l !== label) : st.picked.concat(label);
    renderPicked();
  }

  function showStatus(text, kind) {
    const s = $('q-status');
    s.textContent = text;
    s.className = 'q-status q-status-' + kind;
    s.hidden = false;
  }

  // Sends one label (single, truefalse, poll) or, for a multi, the set of
  // toggled labels as `choices` (label: its stored form "AC").
  function submit(label) {
    if (st.state !== 'question' || st.myChoice || st.pending) return;
    const multi = st.kind === 'multi';
    if (multi) label = LABELS.filter((l) => st.picked.includes(l)).join('');
    if (!label || !label.split('').every((l) => st.choices[LABELS.indexOf(l)])) return;
    if (countdown.left() <= 0) return;
    st.pending = label;
    lockButtons(label, false);
    showStatus('Sending ' + setText2(label) + '…', 'info');
    const msg = multi ? { type: 'submit', question_idx: st.qIdx, choices: label.split('') }
      : { type: 'submit', question_idx: st.qIdx, choice: label };
    if (!st.socket || !st.socket.send(msg)) {
      // Not connected: the snapshot after the reconnect says whether it arrived.
      st.pending = null;
      unlockButtons();
      showStatus('Not connected — your answer was not sent. Try again when the banner says connected.', 'warn');
    }
  }

  function onAck(m) {
    if (m.question_idx !== st.qIdx) return;
    const sent = st.pending;
    st.pending = null;
    switch (m.status) {
      case 'accepted':
      case 'duplicate':
        st.myChoice = Array.isArray(m.choices) ? m.choices.join('') : m.choice || sent;
        lockButtons(st.myChoice, true);
        announce((st.kind === 'poll' ? 'Vote ' : 'Answer ') + setText2(st.myChoice) + ' locked in');
        return;
      case 'closed':
        lockButtons(null);
        showStatus("Too late — time's up for this question.", 'warn');
        announce("Too late, time's up");
        return;
      case 'invalid':
        unlockButtons();
        showStatus('That answer is not one of the choices. Pick again.', 'warn');
        return;
      default:
        lockButtons(null);
        showStatus('This question is no longer open.', 'warn');
    }
  }

  function onError(m) {
    if (m.code === 'unavailable' && st.state === 'question' && !st.myChoice && st.resends < 3) {
      // Nothing was recorded; resend the last choice after a short pause.
      const label = st.pending || (document.querySelector('#answers .chosen') || {}).dataset?.choice;
      if (label && st.kind === 'multi') st.picked = label.split('');
      st.pending = null;
      if (label) {
        st.resends++;
        showStatus('The server is busy — sending again…', 'info');
        setTimeout(() => submit(label), 700 * st.resends);
        return;
      }
    }
    if (st.state === 'question' && st.pending) {
      st.pending = null;
      unlockButtons();
      showStatus(m.message || 'Your answer could not be sent. Try again.', 'warn');
    }
  }

  // The reveal per kind: single and truefalse the right label, multi every
  // right label (right only for exactly that set), a poll no right answer
  // but the chart of the votes.
  function onClosed(m) {
    st.state = 'closed';
    countdown.stop();
    setScore(m.score);
    const kind = KINDS[m.kind] ? m.kind : st.kind;
    const poll = kind === 'poll';
    const answer = rightLabels(m).join('');
    const mine = m.my_choice || null;
    const right = !poll && !!mine && mine === answer;
    const badge = $('r-badge');
    clear(badge);
    badge.className = 'badge ' + (poll ? (mine ? 'badge-vote' : 'badge-none') : right ? 'badge-right' : mine ? 'badge-wrong' : 'badge-none');
    badge.append(el('span', { text: poll ? (mine ? '✓' : '–') : right ? '✓' : mine ? '✗' : '–' }));
    const pts = typeof m.points === 'number' ? m.points : 0;
    const chart = $('r-chart');
    if (poll) {
      setText('r-title', mine ? 'Thanks for voting' : 'No vote');
      setText('r-points', mine ? 'You voted ' + setText2(mine) + '. A poll gives no points.' : "You didn't vote in time.");
      setText('r-answer', 'No right answer: here is how the class voted.');
      drawChart(chart, st.choices, m.counts || {}, null);
      chart.hidden = false;
    } else {
      setText('r-title', right ? 'Correct!' : mine ? 'Not this time' : 'No answer');
      setText('r-points', right ? '+' + pts + ' points' : mine ? 'You answered ' + setText2(mine) + '. 0 points' : "You didn't answer in time. 0 points");
      const texts = answer.split('').map((l) => l + (st.choices[LABELS.indexOf(l)] !== undefined ? ' — ' + st.choices[LABELS.indexOf(l)] : ''));
      setText('r-answer', (answer.length > 1 ? 'Right answers: ' : 'Right answer: ') + texts.join(', '));
      clear(chart);
      chart.hidden = true;
    }
    setText('r-score', st.score);
    show('reveal');
    announce(poll ? (mine ? 'Vote counted.' : 'No vote.') + ' The chart shows how the class voted.'
      : (right ? 'Correct! Plus ' + pts + ' points.' : mine ? 'Wrong answer.' : 'No answer.') +
        ' The right answer was ' + setText2(answer) + '. Your score is ' + st.score + '.');
  }

  function onEnded(m) {
    st.state = 'ended';
    countdown.stop();
    setScore(m.score);
    setText('e-score', st.score);
    const medal = $('e-medal');
    clear(medal);
    medal.className = 'medal';
    if (typeof m.rank === 'number') {
      const place = ordinal(m.rank);
      setText('e-rank', 'You finished ' + place + (m.players ? ' of ' + m.players : ''));
      if (m.rank <= 3) { medal.classList.add('medal-' + m.rank); medal.append(el('span', { text: String(m.rank) })); }
      announce('Quiz over. You finished ' + place + (m.players ? ' of ' + m.players : '') + ' with ' + st.score + ' points.');
    } else {
      setText('e-rank', '');
      announce('Quiz over. Your final score is ' + st.score + '.');
    }
    show('ended');
  }

  // ---- keyboard ------------------------------------------------------------

  document.addEventListener('keydown', (ev) => {
    if (st.state !== 'question' || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.target && /^(INPUT|TEXTAREA|SELECT)$/.test(ev.target.tagName)) return;
    const k = ev.key.toUpperCase();
    if (k === 'ENTER' && st.kind === 'multi') {
      if (ev.target && ev.target.tagName === 'BUTTON') return; // a focused button's own Enter
      ev.preventDefault();
      submit(null);
      return;
    }
    const i = '123456'.indexOf(k) >= 0 ? '123456'.indexOf(k) : LABELS.indexOf(k);
    if (i < 0 || i >= st.choices.length) return;
    ev.preventDefault();
    if (st.kind === 'multi') toggle(LABELS[i]);
    else submit(LABELS[i]);
  });

  // ---- start ---------------------------------------------------------------

  function start() {
    $('join-form').addEventListener('submit', onJoin);
    $('q-submit').addEventListener('click', () => submit(null));
    for (const b of document.querySelectorAll('.ts-btn')) {
      b.append(shape(SHAPE_LABEL[b.dataset.shape]));
      b.addEventListener('click', () => onShape(b.dataset.shape));
    }
    $('ts-erase').addEventListener('click', () => { st.shapes.pop(); renderShapes(); });
    $('join-code').addEventListener('input', (e) => { e.target.value = e.target.value.replace(/[^0-9]/g, '').slice(0, 6); });
    const params = new URLSearchParams(location.search);
    const code = (params.get('code') || '').replace(/[^0-9]/g, '').slice(0, 6);
    const seat = loadSeat();
    if (seat) {
      $('student-id').value = seat.student_id || '';
      $('display-name').value = seat.name || '';
    }
    $('join-code').value = code || (seat && seat.join_code) || '';
    if (seat && seat.sid && (!code || code === seat.join_code)) {
      st.seat = seat;
      showWho();
      connect();
    } else {
      showJoin(null);
    }
  }

  start();
})();
