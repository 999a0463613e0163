// host.js: the instructor console. Logs in (POST /admin/login sets the
// HttpOnly qw_admin cookie), uploads or picks a pool, creates a session and
// drives it over /admin/ws?sid=S; in the lobby it locks and unlocks the
// lobby, removes players, and turns the two-step join on (the shapes to
// tap are projected and re-read as they change). The sid lives in the URL (#sid=...) so a
// reload rebuilds the console from the `snapshot`. The report after class
// (#report=S, from the end of a game or the list of past sessions) shows
// per question the share right, the answers per choice and the median time,
// hardest first, and per student the answers and score, as the results
// route computes them. The stored quizzes are listed with Start session and
// Edit (a start refused because the quiz was edited after it was played
// reloads the list, which shows the new version); #edit=ID (or #edit=new)
// opens the quiz editor (editor.js), which also duplicates and deletes.
// Text from users (names, questions, server messages) goes in with
// textContent only.
'use strict';

(() => {
  const { el, $, setText, clear, shape, banner, Socket, Countdown, api, ordinal, LABELS, KINDS, drawChart, rightLabels } = QW;
  const HINT = 'qw_host_logged_in';

  const st = {
    sid: null,
    info: null,          // GET /admin/api/sessions/{sid}
    socket: null,
    state: null,
    qIdx: -1,
    qCount: 0,
    question: null,      // {text, choices}
    players: 0,
    roster: [],          // [{student_id, name}] in the lobby, for the remove buttons
    shapesTimer: null,   // refreshes the two-step shapes when they change
    infoTimer: null,     // re-reads the session (joins refused) in the lobby
    lastCmd: { cmd: null, at: 0 },
  };

  const countdown = new Countdown((ms, frac) => {
    setText('hq-seconds', Math.ceil(ms / 1000));
    $('hq-timebar').style.transform = 'scaleX(' + frac.toFixed(4) + ')';
    $('stage-question').classList.toggle('hurry', ms <= 5000);
    // Past the common deadline the question stays open for students with
    // extra time who have not answered yet (docs/API.md "Extra time").
    $('hq-extra').hidden = !(ms <= 0 && st.extended > 0);
  });

  function announce(text) { setText('live', ''); setTimeout(() => setText('live', text), 30); }

  function show(view) {
    for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== 'view-' + view;
    document.body.dataset.view = view;
    const inApp = view === 'setup' || view === 'console' || view === 'report' || view === 'editor';
    $('h-logout').hidden = !inApp;
    $('h-new').hidden = view !== 'console' && view !== 'report' && view !== 'editor';
    $('h-title').hidden = view !== 'console';
  }

  function stage(name) {
    for (const s of document.querySelectorAll('.stage')) s.hidden = s.id !== 'stage-' + name;
    document.body.dataset.stage = name;
    const poll = name === 'closed' && st.question && st.question.kind === 'poll';
    const labels = { lobby: 'Lobby', question: 'Question open', closed: poll ? 'Poll closed' : 'Answer revealed', ended: 'Ended' };
    setText('h-state', labels[name] || '');
    $('btn-next').hidden = name === 'ended';
    $('btn-close').hidden = name !== 'question';
    $('btn-end').hidden = name === 'ended';
    setText($('btn-next').firstChild, name === 'lobby' ? 'Start ' : (st.qIdx + 1 >= st.qCount && name === 'closed' ? 'Finish ' : 'Next '));
  }

  function toast(text) {
    const t = $('h-toast');
    t.textContent = text;
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { t.hidden = true; }, 6000);
  }

  function sidFromHash() {
    const m = /(?:^|[#&])sid=([^&]+)/.exec(location.hash);
    return m ? decodeURIComponent(m[1]) : null;
  }

  function editFromHash() {
    const m = /(?:^|[#&])edit=([^&]+)/.exec(location.hash);
    return m ? decodeURIComponent(m[1]) : null;
  }

  function reportFromHash() {
    const m = /(?:^|[#&])report=([^&]+)/.exec(location.hash);
    return m ? decodeURIComponent(m[1]) : null;
  }

  // Any 401 means the login is gone: back to the login form, then on.
  function needLogin(r) {
    if (r.status !== 401) return false;
    try { localStorage.removeItem(HINT); } catch (e) { /* private mode */ }
    showLogin();
    return true;
  }

  // ---- login ---------------------------------------------------------------

  function showLogin() {
    if (st.socket) { st.socket.stop(); st.socket = null; }
    stopLobbyTimers();
    show('login');
    $('login-pass').focus();
  }

  async function onLogin(ev) {
    ev.preventDefault();
    const err = $('login-error');
    err.hidden = true;
    const btn = $('login-button');
    btn.disabled = true;
    const r = await api('POST', '/admin/login', { username: $('login-user').value, password: $('login-pass').value });
    btn.disabled = false;
    if (r.status === 200) {
      $('login-pass').value = '';
      try { localStorage.setItem(HINT, '1'); } catch (e) { /* private mode */ }
      return route();
    }
    err.textContent = r.status === 401 ? 'Wrong user name or password.'
      : r.status === 429 ? 'Too many tries. Wait ' + (r.retryAfter || 'a minute') + ' seconds and try again.'
        : r.message || 'Login failed (' + r.status + ').';
    err.hidden = false;
  }

  async function onLogout() {
    await api('POST', '/admin/logout');
    try { localStorage.removeItem(HINT); } catch (e) { /* private mode */ }
    history.replaceState(null, '', '/host');
    showLogin();
  }

  // ---- setup: pools and sessions -------------------------------------------

  async function showSetup() {
    if (st.socket) { st.socket.stop(); st.socket = null; }
    stopLobbyTimers();
    st.sid = null;
    show('setup');
    await Promise.all([loadQuizzes(), loadPastSessions()]);
  }

  // Every session, newest first, each with a link to its report.
  async function loadPastSessions() {
    const r = await api('GET', '/admin/api/sessions');
    if (needLogin(r)) return;
    const list = $('past-list');
    clear(list);
    const sessions = r.status === 200 && r.json ? r.json.sessions || [] : [];
    $('past-empty').hidden = sessions.length > 0;
    if (r.status !== 200) setText('past-empty', r.message || 'Could not load the sessions.');
    for (const s of sessions) {
      const when = s.created_at ? new Date(s.created_at).toLocaleString() : '';
      const a = el('a.btn.btn-ghost', { href: '#report=' + encodeURIComponent(s.sid), text: 'Report', 'aria-label': 'Report of ' + (s.title || 'Untitled') + ' ' + when });
      list.append(el('li', { 'data-sid': s.sid },
        el('div', null, el('b', { text: s.title || 'Untitled' }),
          el('span.muted', { text: ' · ' + when + ' · ' + (s.players || 0) + ' players · ' + s.state })),
        a));
    }
  }

  // ---- the report after class ----------------------------------------------

  function percent(share) {
    return share === null || share === undefined ? '—' : Math.round(share * 100) + ' %';
  }

  function seconds(ms) {
    return ms === null || ms === undefined ? '—' : (ms / 1000).toFixed(1) + ' s';
  }

  async function openReport(sid) {
    if (st.socket) { st.socket.stop(); st.socket = null; }
    stopLobbyTimers();
    st.sid = null;
    show('loading');
    const path = '/admin/api/sessions/' + encodeURIComponent(sid);
    const [info, r] = await Promise.all([api('GET', path), api('GET', path + '/results')]);
    if (needLogin(info) || needLogin(r)) return;
    show('report');
    const qBody = $('report-questions').tBodies[0];
    const sBody = $('report-students').tBodies[0];
    clear(qBody);
    clear(sBody);
    $('report-csv').href = path + '/report.csv';
    $('report-results-csv').href = path + '/results.csv';
    if (r.status !== 200 || !r.json) {
      setText('report-title', 'Report');
      setText('report-meta', '');
      setText('report-error', r.status === 404 ? 'That session does not exist.' : (r.message || 'The report is not available right now.'));
      $('report-error').hidden = false;
      return;
    }
    $('report-error').hidden = true;
    const title = info.json && info.json.title ? info.json.title : 'Untitled';
    setText('report-title', 'Report: ' + title);
    const when = info.json && info.json.created_at ? new Date(info.json.created_at).toLocaleString() : '';
    const students = r.json.students || [];
    const questions = r.json.questions || [];
    setText('report-meta', when + ' · ' + students.length + ' students · ' + questions.length + ' questions · ' + r.json.state);
    for (const q of questions) {
      const choices = Array.isArray(q.choices) ? q.choices : [];
      const right = rightLabels(q);
      const counts = el('ul.report-counts');
      for (let i = 0; i < choices.length && i < LABELS.length; i++) {
        const n = q.counts && q.counts[LABELS[i]] !== undefined ? q.counts[LABELS[i]] : 0;
        counts.append(el('li' + (right.includes(LABELS[i]) ? '.right' : ''), { 'data-label': LABELS[i], text: LABELS[i] + ' ' + choices[i] + ': ' + n }));
      }
      const poll = q.kind === 'poll';
      qBody.append(el('tr', { 'data-question-idx': String(q.question_idx), 'data-kind': q.kind || 'single' },
        el('td', null, el('b', { text: (q.question_idx + 1) + '. ' }), q.text),
        el('td', { text: poll ? 'Poll (no right answer)' : rightText(right, choices) }),
        el('td.share', { text: poll ? q.answered + ' votes' : percent(q.share_right) + ' (' + q.correct + ' / ' + q.answered + ')' }),
        el('td', null, counts),
        el('td.median', { text: seconds(q.median_ms) })));
    }
    for (const s of students) {
      const answers = Array.isArray(s.answers) ? s.answers : [];
      const given = answers.map((a) => (a.question_idx + 1) + ': ' + labelsOf(a) +
        (a.correct === null || a.correct === undefined ? '' : a.correct ? ' ✓' : ' ✗')).join(' · ');
      sBody.append(el('tr', { 'data-student-id': s.student_id }, el('td', { text: String(s.rank) }), el('td', { text: s.name }),
        el('td', { text: s.student_id }), el('td', { text: String(s.score) }),
        el('td', { text: given || 'no answers' })));
    }
  }

  async function loadQuizzes() {
    const r = await api('GET', '/admin/api/quizzes');
    if (needLogin(r)) return;
    const list = $('quiz-list');
    clear(list);
    if (r.status !== 200 || !r.json) {
      setText('setup-error', r.message || 'Could not load the quizzes.');
      $('setup-error').hidden = false;
      return;
    }
    $('setup-error').hidden = true;
    const quizzes = r.json.quizzes || [];
    $('quiz-empty').hidden = quizzes.length > 0;
    for (const q of quizzes) {
      const name = q.title || 'Untitled';
      const b = el('button.btn.btn-primary', { type: 'button', text: 'Start session', 'aria-label': 'Start session: ' + name });
      b.addEventListener('click', () => createSession(q.quiz_id, b));
      const edit = el('a.btn.btn-ghost', { href: '#edit=' + encodeURIComponent(q.quiz_id), text: 'Edit', 'aria-label': 'Edit ' + name });
      const meta = ' · ' + (q.question_count || 0) + ' questions · version ' + (q.version || 1) + (q.played ? ' · played' : '');
      list.append(el('li', { 'data-quiz-id': String(q.quiz_id) },
        el('div', null, el('b', { text: name }), el('span.muted', { text: meta })),
        el('div.quiz-actions', null, b, edit)));
    }
  }

  async function onUpload(ev) {
    ev.preventDefault();
    const out = $('upload-result');
    clear(out);
    out.hidden = true;
    const file = $('pool-file').files[0];
    if (!file) return;
    const text = await file.text();
    const fail = (title, detail, where) => {
      out.className = 'upload-error';
      out.append(el('p', null, el('b', { text: title })));
      if (where) out.append(el('p.where', { text: where }));
      if (detail) out.append(el('p', { text: detail }));
      out.hidden = false;
    };
    try { JSON.parse(text); } catch (e) { return fail('This file is not valid JSON.', e.message); }
    const r = await api('POST', '/admin/api/quizzes', text);
    if (needLogin(r)) return;
    if (r.status === 200 || r.status === 201) {
      out.className = 'upload-ok';
      out.append(el('p', { text: 'Stored “' + file.name + '”. Start a session from the list.' }));
      out.hidden = false;
      $('upload-form').reset();
      return loadQuizzes();
    }
    if (r.status === 413) return fail('The file is too large (1 MiB at most).');
    // Point at the question and field the server named, when it did.
    const msg = r.message || '';
    const q = /question[\s_#]*(\d+)/i.exec(msg);
    const f = /field[\s:'"`]*([a-z_]+)/i.exec(msg);
    const where = q || f ? [q ? 'Question ' + q[1] : null, f ? 'field “' + f[1] + '”' : null].filter(Boolean).join(' · ') : null;
    return fail('The pool was refused; nothing of it was stored.', msg, where);
  }

  async function createSession(quizId, btn) {
    btn.disabled = true;
    const r = await api('POST', '/admin/api/sessions', { quiz_id: quizId });
    btn.disabled = false;
    if (needLogin(r)) return;
    if ((r.status === 200 || r.status === 201) && r.json && r.json.sid) {
      location.hash = 'sid=' + encodeURIComponent(r.json.sid);
      return;
    }
    if (r.status === 409 && r.error === 'quiz_replaced') return onQuizReplaced(r.json.replaced_by);
    setText('setup-error', r.message || 'Could not create the session.');
    $('setup-error').hidden = false;
  }

  // The list was stale (another tab or instructor saved the quiz after it
  // was played): the old version cannot start and the server names the new
  // one. Reload the list, which holds the new version in the old one's
  // place, say so, and put the focus on the new version's Start button.
  async function onQuizReplaced(newId) {
    await loadQuizzes();
    if (document.body.dataset.view !== 'setup' || !$('setup-error').hidden) return; // left, or the list failed
    const row = [...$('quiz-list').children].find((li) => li.dataset.quizId === String(newId));
    setText('setup-error', 'This quiz was edited after it was played, so that version cannot start. ' +
      (row ? 'The list now shows its new version: start that one.' : 'The list is now up to date: start its current version.'));
    $('setup-error').hidden = false;
    if (row) row.querySelector('button').focus();
  }

  // ---- console ---------------------------------------------------------------

  // ---- who plays: lock, two-step join, remove ------------------------------

  const SHAPE_LABEL = { triangle: 'A', diamond: 'B', circle: 'C', square: 'D' };

  function stopLobbyTimers() {
    clearTimeout(st.shapesTimer);
    clearInterval(st.infoTimer);
    st.shapesTimer = null;
    st.infoTimer = null;
  }

  function renderLobbyTools() {
    const info = st.info || {};
    const lock = $('btn-lock');
    setText(lock, info.locked ? 'Unlock lobby' : 'Lock lobby');
    lock.setAttribute('aria-pressed', info.locked ? 'true' : 'false');
    setText('lock-state', info.locked ? 'Locked: no new players' : 'Open to new players');
    $('lock-state').classList.toggle('pill-warn', !!info.locked);
    const two = $('btn-two-step');
    setText(two, 'Two-step join: ' + (info.two_step ? 'on' : 'off'));
    two.setAttribute('aria-pressed', info.two_step ? 'true' : 'false');
    setText('refused-count', info.joins_refused || 0);
    if (!info.two_step) { $('two-step-panel').hidden = true; clearTimeout(st.shapesTimer); st.shapesTimer = null; }
  }

  async function refreshInfo() {
    if (!st.sid) return;
    const r = await api('GET', '/admin/api/sessions/' + encodeURIComponent(st.sid));
    if (needLogin(r)) return;
    if (r.status === 200 && r.json && r.json.sid === st.sid) { st.info = r.json; renderLobbyTools(); renderTimes(); }
  }

  // The shapes on the projector; read again as soon as they change.
  async function refreshShapes() {
    clearTimeout(st.shapesTimer);
    st.shapesTimer = null;
    if (!st.sid || !st.info || !st.info.two_step) return;
    const sid = st.sid;
    const r = await api('GET', '/admin/api/sessions/' + encodeURIComponent(sid) + '/shapes');
    if (needLogin(r) || sid !== st.sid) return;
    const box = $('two-step-shapes');
    if (r.status !== 200 || !r.json || !Array.isArray(r.json.shapes)) {
      $('two-step-panel').hidden = !!(r.json && r.json.two_step === false);
      st.shapesTimer = setTimeout(refreshShapes, 3000);
      return;
    }
    clear(box);
    for (const name of r.json.shapes) {
      const L = SHAPE_LABEL[name] || 'D';
      box.append(el('span.ts-shape.ans-' + L, { 'data-shape': name }, shape(L)));
    }
    box.setAttribute('aria-label', 'Shapes to tap: ' + r.json.shapes.join(', '));
    $('two-step-panel').hidden = false;
    st.shapesTimer = setTimeout(refreshShapes, Math.max(500, (r.json.changes_in_ms || 20000) + 150));
  }

  async function onLockToggle() {
    const path = '/admin/api/sessions/' + encodeURIComponent(st.sid) + (st.info && st.info.locked ? '/unlock' : '/lock');
    const r = await api('POST', path, {});
    if (needLogin(r)) return;
    if (r.status !== 200 || !r.json) return toast(r.message || 'The lobby could not be changed.');
    st.info = r.json;
    renderLobbyTools();
    announce(r.json.locked ? 'The lobby is locked' : 'The lobby is open');
  }

  async function onTwoStepToggle() {
    const on = !(st.info && st.info.two_step);
    const r = await api('POST', '/admin/api/sessions/' + encodeURIComponent(st.sid) + '/two_step', { on });
    if (needLogin(r)) return;
    if (r.status !== 200 || !r.json) return toast(r.message || 'The two-step join could not be changed.');
    st.info = r.json;
    renderLobbyTools();
    if (on) refreshShapes();
  }

  async function removePlayer(p, btn) {
    btn.disabled = true;
    const r = await api('POST', '/admin/api/sessions/' + encodeURIComponent(st.sid) + '/remove', { student_id: p.student_id });
    if (needLogin(r)) return;
    if (r.status === 200 || r.error === 'student_removed') {
      dropFromRoster(p.student_id);
      if (r.json && typeof r.json.players === 'number') st.players = r.json.players;
      renderLobby();
      toast('Removed ' + p.name + ' (' + p.student_id + ').');
      return;
    }
    btn.disabled = false;
    toast(r.message || 'The player could not be removed.');
  }

  function dropFromRoster(id) {
    st.roster = st.roster.filter((p) => p.student_id !== id);
  }

  function rosterItem(p, fresh) {
    const b = el('button.btn-remove', { type: 'button', 'aria-label': 'Remove ' + p.name + ' (' + p.student_id + ')', title: 'Remove ' + p.student_id, text: '×' });
    b.addEventListener('click', () => removePlayer(p, b));
    const sel = factorSelect(factorOf(p.student_id), 'Time for ' + p.name + ' (' + p.student_id + ')');
    sel.classList.add('roster-time');
    sel.addEventListener('change', () => setFactor(p.student_id, Number(sel.value), sel));
    return el('li' + (fresh ? '.new' : ''), { 'data-student-id': p.student_id }, el('span', { text: p.name }),
      timeMark(p.student_id), sel, b);
  }

  // ---- extra time (accommodations) ----------------------------------------------

  const FACTORS = [1, 1.25, 1.5, 2, 3];

  function factorOf(id) {
    const f = st.info && st.info.time_factors ? st.info.time_factors[id] : undefined;
    return typeof f === 'number' ? f : 1;
  }

  function factorText(f) { return f === 1 ? 'normal time' : f + '× time'; }

  function factorSelect(value, label) {
    const sel = el('select', label ? { 'aria-label': label, title: label } : {});
    for (const f of FACTORS) sel.append(el('option', { value: String(f), text: factorText(f), selected: f === value }));
    return sel;
  }

  // The mark beside a player who has extra time (empty otherwise).
  function timeMark(id) {
    const f = factorOf(id);
    return el('b.time-mark', { 'data-factor': String(f), hidden: f === 1, text: f === 1 ? '' : f + '× time' });
  }

  function renderTimes() {
    const all = (st.info && st.info.time_factors) || {};
    const ids = Object.keys(all);
    setText('time-count', ids.length);
    setText('time-word', ids.length === 1 ? 'student' : 'students');
    const ul = $('time-list');
    clear(ul);
    for (const id of ids) {
      const b = el('button.btn.btn-ghost', { type: 'button', text: 'Normal time', 'aria-label': 'Normal time for ' + id });
      b.addEventListener('click', () => setFactor(id, 1, b));
      ul.append(el('li', { 'data-student-id': id }, el('span', { text: id }), el('b.time-mark', { text: all[id] + '× time' }), b));
    }
    for (const li of $('lobby-names').querySelectorAll('li[data-student-id]')) {
      const id = li.dataset.studentId;
      const old = li.querySelector('.time-mark');
      if (old) old.replaceWith(timeMark(id));
      const sel = li.querySelector('select');
      if (sel) sel.value = String(factorOf(id));
    }
  }

  async function setFactor(id, factor, control) {
    if (control) control.disabled = true;
    const r = await api('POST', '/admin/api/sessions/' + encodeURIComponent(st.sid) + '/time_factor', { student_id: id, factor });
    if (control) control.disabled = false;
    if (needLogin(r)) return false;
    if (r.status !== 200 || !r.json) {
      toast(r.message || 'The time could not be changed.');
      renderTimes();
      return false;
    }
    if (st.info) st.info.time_factors = r.json.time_factors || {};
    renderTimes();
    announce(factor === 1 ? id + ' has normal time' : id + ' has ' + factor + '× time');
    return true;
  }

  async function onTimeSubmit(e) {
    e.preventDefault();
    const id = $('time-student').value;
    $('time-error').hidden = true;
    if (!id.trim()) {
      setText('time-error', 'Type the student id.');
      $('time-error').hidden = false;
      return;
    }
    if (await setFactor(id, Number($('time-factor').value))) $('time-student').value = '';
  }

  async function openConsole(sid) {
    if (st.socket) { st.socket.stop(); st.socket = null; }
    stopLobbyTimers();
    st.sid = sid;
    st.roster = [];
    show('loading');
    const r = await api('GET', '/admin/api/sessions/' + encodeURIComponent(sid));
    if (needLogin(r)) return;
    if (r.status !== 200 || !r.json) {
      history.replaceState(null, '', '/host');
      await showSetup();
      setText('setup-error', r.status === 404 ? 'That session no longer exists.' : (r.message || 'Could not open the session.'));
      $('setup-error').hidden = false;
      return;
    }
    st.info = r.json;
    st.qCount = r.json.question_count || 0;
    setText('h-title', r.json.title || '');
    const url = location.origin + '/?code=' + r.json.join_code;
    setText('join-url', location.host + '/?code=' + r.json.join_code);
    setText('join-code-big', String(r.json.join_code).replace(/^(\d{3})(\d{3})$/, '$1 $2'));
    drawQr(url);
    $('csv-link').href = '/admin/api/sessions/' + encodeURIComponent(sid) + '/results.csv';
    $('report-link').href = '#report=' + encodeURIComponent(sid);
    renderLobbyTools();
    renderTimes();
    if (r.json.two_step) refreshShapes();
    st.infoTimer = setInterval(() => { if (st.state === 'lobby') refreshInfo(); }, 5000);
    show('console');
    st.socket = new Socket('/admin/ws?sid=' + encodeURIComponent(sid), {
      message: onMessage,
      refused: async (code, opened, fails) => {
        if (!opened && fails >= 2) {
          const c = await api('GET', '/admin/api/sessions/' + encodeURIComponent(sid));
          if (needLogin(c)) return true;
        }
        return false;
      },
    });
    st.socket.connect();
  }

  function drawQr(text) {
    const box = $('qr');
    clear(box);
    if (typeof qrcode !== 'function') return;
    const qr = qrcode(0, 'M');
    qr.addData(text);
    qr.make();
    const n = qr.getModuleCount();
    const NS = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', '-4 -4 ' + (n + 8) + ' ' + (n + 8));
    svg.setAttribute('shape-rendering', 'crispEdges');
    svg.setAttribute('aria-hidden', 'true');
    const bg = document.createElementNS(NS, 'rect');
    bg.setAttribute('x', '-4'); bg.setAttribute('y', '-4');
    bg.setAttribute('width', String(n + 8)); bg.setAttribute('height', String(n + 8));
    bg.setAttribute('fill', '#fff');
    svg.append(bg);
    let d = '';
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (qr.isDark(r, c)) d += 'M' + c + ' ' + r + 'h1v1h-1z';
    const p = document.createElementNS(NS, 'path');
    p.setAttribute('d', d);
    p.setAttribute('fill', '#111');
    svg.append(p);
    box.append(svg);
  }

  function onMessage(m) {
    if (typeof m.remaining_ms === 'number' && st.state === 'question' && m.type !== 'question_open') countdown.sync(m.remaining_ms);
    switch (m.type) {
      case 'snapshot': return onSnapshot(m);
      case 'lobby_update': return onLobby(m);
      case 'student_removed': return onRemoved(m);
      case 'question_open': return onQuestion(m);
      case 'answer_stats': return onStats(m);
      case 'question_closed': return onClosed(m);
      case 'session_ended': return onEnded();
      case 'error': return toast(m.message || m.code || 'The server refused that.');
      default: return undefined;
    }
  }

  async function onSnapshot(m) {
    st.qCount = m.question_count || st.qCount;
    st.players = typeof m.players === 'number' ? m.players : st.players;
    if (m.state === 'lobby') {
      st.state = 'lobby';
      countdown.stop();
      renderLobby();
      stage('lobby');
      // Names that arrived before this page loaded come from the results.
      const r = await api('GET', '/admin/api/sessions/' + encodeURIComponent(st.sid) + '/results');
      if (r.status === 200 && r.json && Array.isArray(r.json.students) && st.state === 'lobby') {
        st.roster = r.json.students.map((s) => ({ student_id: s.student_id, name: s.name }));
        renderLobby();
      }
      return;
    }
    if (m.state === 'question' && m.question) {
      return onQuestion({
        question_idx: m.question_idx, text: m.question.text, choices: m.question.choices,
        time_limit_ms: m.question.time_limit_ms, remaining_ms: m.remaining_ms, players: m.players,
        counts: m.counts, kind: m.question.kind, image: m.question.image, image_alt: m.question.image_alt,
      });
    }
    if (m.state === 'closed' && m.question && m.counts) {
      // A reload after the reveal: the snapshot carries the reveal and counts.
      st.question = { text: m.question.text, choices: m.question.choices || [], kind: m.question.kind || 'single' };
      return onClosed({ question_idx: m.question_idx, kind: st.question.kind, answer: m.answer, answers: m.answers, counts: m.counts });
    }
    if (m.state === 'closed') {
      st.state = 'closed';
      st.qIdx = m.question_idx;
      countdown.stop();
      st.question = m.question || st.question;
      setText('hc-text', st.question ? st.question.text : 'Question ' + (m.question_idx + 1));
      setText('hc-answer', 'Question ' + (m.question_idx + 1) + ' is closed.');
      clear($('hc-chart'));
      stage('closed');
      return loadLeaderboard();
    }
    if (m.state === 'ended') return onEnded();
    return undefined;
  }

  function renderLobby() {
    setText('lobby-count', st.players);
    setText('lobby-word', st.players === 1 ? 'player' : 'players');
    const ul = $('lobby-names');
    clear(ul);
    for (const p of st.roster.slice(-200)) ul.append(rosterItem(p, false));
    $('lobby-empty').hidden = st.players > 0 || st.roster.length > 0;
  }

  function onLobby(m) {
    if (typeof m.players === 'number') st.players = m.players;
    if (typeof m.name === 'string' && typeof m.student_id === 'string') {
      const p = { student_id: m.student_id, name: m.name };
      dropFromRoster(p.student_id);
      st.roster.push(p);
      if (st.state === 'lobby') {
        $('lobby-names').append(rosterItem(p, true));
        $('lobby-empty').hidden = true;
      }
    }
    if (st.state === 'lobby') {
      setText('lobby-count', st.players);
      setText('lobby-word', st.players === 1 ? 'player' : 'players');
    }
  }

  function onRemoved(m) {
    if (typeof m.student_id !== 'string') return;
    dropFromRoster(m.student_id);
    if (typeof m.players === 'number') st.players = m.players;
    if (st.state === 'lobby') renderLobby();
  }

  function onQuestion(m) {
    st.state = 'question';
    st.qIdx = m.question_idx;
    if (m.question_count) st.qCount = m.question_count;
    st.question = { text: m.text, choices: m.choices || [], kind: m.kind || 'single' };
    if (m.time_factors) st.extended = Object.keys(m.time_factors).length;
    else if (m.type === 'question_open') st.extended = 0;
    if (typeof m.players === 'number') st.players = m.players;
    setText('hq-progress', 'Question ' + (m.question_idx + 1) + (st.qCount ? ' of ' + st.qCount : ''));
    setText('hq-kind', KINDS[st.question.kind] || '');
    $('hq-kind').hidden = st.question.kind === 'single';
    setText('hq-text', m.text);
    QWPictures.show($('hq-figure'), m.image, m.image_alt || m.text);
    // A reload mid-question: the snapshot's counts are the answers so far.
    const counts = m.counts || {};
    // (a multi counts each label picked: the sum is picks, a lower bound is the top bar)
    const picks = Object.values(counts).map((n) => Number(n) || 0);
    setText('hq-answered', st.question.kind === 'multi' ? Math.max(0, ...picks) : picks.reduce((a, n) => a + n, 0));
    setText('hq-players', st.players);
    drawChart($('hq-chart'), st.question.choices, counts, null);
    countdown.sync(m.remaining_ms, m.time_limit_ms);
    stage('question');
    announce('Question ' + (m.question_idx + 1) + ' is open');
  }

  function onStats(m) {
    if (m.question_idx !== st.qIdx || st.state !== 'question') return;
    setText('hq-answered', m.answered || 0);
    if (typeof m.players === 'number') { st.players = m.players; setText('hq-players', m.players); }
    drawChart($('hq-chart'), st.question.choices, m.counts || {}, null);
  }

  // "A — Paris" or "A — 2, C — 5": the right labels with their texts.
  function rightText(labels, choices) {
    return labels.map((L) => L + (choices[LABELS.indexOf(L)] !== undefined ? ' — ' + choices[LABELS.indexOf(L)] : '')).join(', ');
  }

  // An answer of the results as its labels: "A", or "A+C" for a multi's set.
  function labelsOf(a) {
    return Array.isArray(a.choices) ? a.choices.join('+') : String(a.choice);
  }

  // The reveal per kind: single/truefalse the right answer, multi every
  // right label, a poll no reveal (the chart is the point).
  function onClosed(m) {
    st.state = 'closed';
    st.qIdx = m.question_idx;
    countdown.stop();
    const choices = st.question ? st.question.choices : LABELS.filter((L) => m.counts && L in m.counts);
    const kind = m.kind || (st.question && st.question.kind) || 'single';
    setText('hc-text', st.question ? st.question.text : '');
    const right = kind === 'poll' ? [] : rightLabels(m);
    const say = kind === 'poll' ? 'Poll: no right answer. How the class voted:'
      : (right.length > 1 ? 'Right answers: ' : 'Right answer: ') + rightText(right, choices);
    setText('hc-answer', say);
    $('stage-closed').dataset.kind = kind;
    drawChart($('hc-chart'), choices, m.counts || {}, kind === 'poll' ? null : right);
    stage('closed');
    announce(kind === 'poll' ? 'Closed. Poll results are shown.'
      : 'Closed. The right answer' + (right.length > 1 ? 's are ' : ' is ') + right.join(', '));
    loadLeaderboard();
  }

  async function fetchResults() {
    const r = await api('GET', '/admin/api/sessions/' + encodeURIComponent(st.sid) + '/results');
    if (needLogin(r)) return null;
    return r.status === 200 && r.json ? r.json.students || [] : null;
  }

  async function loadLeaderboard() {
    const students = await fetchResults();
    const ol = $('leaderboard');
    clear(ol);
    if (!students) { ol.append(el('li.muted', { text: 'Scores are not available right now.' })); return; }
    for (const s of students.slice(0, 5)) {
      ol.append(el('li', null, el('span.rank', { text: String(s.rank) }), el('span.lname', { text: s.name }),
        el('span.lscore', { text: String(s.score) })));
    }
    if (!students.length) ol.append(el('li.muted', { text: 'No players.' }));
  }

  async function onEnded() {
    st.state = 'ended';
    countdown.stop();
    stage('ended');
    announce('The quiz has ended');
    const students = await fetchResults();
    const pod = $('podium');
    clear(pod);
    const body = $('results-table').tBodies[0];
    clear(body);
    if (!students) { pod.append(el('p.muted', { text: 'Results are not available right now.' })); return; }
    // Podium order on screen: 2nd, 1st, 3rd.
    for (const place of [1, 0, 2]) {
      const s = students[place];
      if (!s) continue;
      pod.append(el('div.step.step-' + (place + 1), null,
        el('div.step-name', { text: s.name }),
        el('div.step-score', { text: s.score + ' pts' }),
        el('div.step-block', null, el('span', { text: ordinal(s.rank) }))));
    }
    for (const s of students) {
      const answers = Array.isArray(s.answers) ? s.answers : [];
      const right = answers.filter((a) => a.correct === true).length;
      body.append(el('tr', null, el('td', { text: String(s.rank) }), el('td', { text: s.name }),
        el('td', { text: s.student_id }), el('td', { text: String(s.score) }),
        el('td', { text: right + ' / ' + st.qCount })));
    }
  }

  // ---- controls ----------------------------------------------------------------

  function command(cmd) {
    if (!st.socket || document.body.dataset.view !== 'console') return;
    const now = Date.now();
    if (st.lastCmd.cmd === cmd && now - st.lastCmd.at < 500) return; // one key press, one command
    st.lastCmd = { cmd, at: now };
    if (cmd === 'end' && st.state !== 'ended' && !confirmEnd()) return;
    if (!st.socket.send({ type: cmd })) toast('Not connected: the command was not sent.');
  }

  // Ending early needs a second press within 3 s (no modal dialog on a projector).
  function confirmEnd() {
    if (st.state === 'closed' && st.qIdx + 1 >= st.qCount) return true;
    if (confirmEnd.armed && Date.now() - confirmEnd.armed < 3000) { confirmEnd.armed = 0; return true; }
    confirmEnd.armed = Date.now();
    st.lastCmd = { cmd: null, at: 0 };
    toast('Press End again to end the quiz for everyone.');
    return false;
  }

  document.addEventListener('keydown', (ev) => {
    if (document.body.dataset.view !== 'console' || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.target && /^(INPUT|TEXTAREA|SELECT)$/.test(ev.target.tagName)) return;
    const map = { n: 'next', ' ': 'next', c: 'close', e: 'end' };
    const cmd = map[ev.key.toLowerCase()];
    if (!cmd) return;
    ev.preventDefault();
    command(cmd);
  });

  // ---- routing -------------------------------------------------------------------

  async function route() {
    const edit = editFromHash();
    if (edit) {
      if (st.socket) { st.socket.stop(); st.socket = null; }
      stopLobbyTimers();
      st.sid = null;
      return QWEditor.open(edit, { show, needLogin, back: () => { history.pushState(null, '', '/host'); showSetup(); } });
    }
    const report = reportFromHash();
    if (report) return openReport(report);
    const sid = sidFromHash();
    if (sid) return openConsole(sid);
    return showSetup();
  }

  function start() {
    $('login-form').addEventListener('submit', onLogin);
    $('upload-form').addEventListener('submit', onUpload);
    $('picture-card').append(QWPictures.control());
    $('h-logout').addEventListener('click', onLogout);
    $('h-new').addEventListener('click', () => { history.pushState(null, '', '/host'); showSetup(); });
    $('btn-next').addEventListener('click', () => command('next'));
    $('btn-close').addEventListener('click', () => command('close'));
    $('btn-end').addEventListener('click', () => command('end'));
    $('btn-lock').addEventListener('click', onLockToggle);
    $('btn-two-step').addEventListener('click', onTwoStepToggle);
    $('time-form').addEventListener('submit', onTimeSubmit);
    const factor = $('time-factor');
    for (const f of FACTORS.slice(1)) factor.append(el('option', { value: String(f), text: factorText(f), selected: f === 2 }));
    window.addEventListener('hashchange', () => {
      if (editFromHash() || reportFromHash() || sidFromHash() !== st.sid ||
        document.body.dataset.view === 'report' || document.body.dataset.view === 'editor') route();
    });
    let hint = null;
    try { hint = localStorage.getItem(HINT); } catch (e) { /* private mode */ }
    if (hint) route(); else showLogin();
  }

  start();
})();
