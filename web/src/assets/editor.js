// editor.js: the quiz editor of the instructor console (issue 18). Opens a
// stored quiz (#edit=ID) or a new one (#edit=new), edits its title and
// questions (text, kind, 2..6 choices A..F, which are right, time limit, an
// optional picture, uploaded with pictures.js's control), reorders them, and saves with POST (new) or PUT
// (docs/API.md "Quiz editor"); a stored quiz is also duplicated (the copy
// opens) or deleted (a second press within 3 s) from here. Every change is kept in localStorage
// (qw_editor_draft:<id>) until the server has the quiz, so a reload restores
// it. The rules are the server's: the draft is sent to
// POST /admin/api/quizzes/validate as the teacher types, and its error (the
// question and field it names) is shown beside that field. A CSV file in the
// template of docs/QUIZZES.md is parsed with Papa Parse (npm papaparse),
// previewed with an error per row (each row checked by the same route), and
// only the good rows are added to the draft: nothing is stored before Save.
// Text goes in with textContent and input values only.
'use strict';

const QWEditor = (() => {
  const { el, $, setText, clear, api } = QW;
  const LETTERS = ['A', 'B', 'C', 'D', 'E', 'F'];
  const KINDS = [['single', 'One right answer'], ['multi', 'Several right answers'],
    ['truefalse', 'True or false'], ['poll', 'Poll (no right answer)']];
  const DRAFT = 'qw_editor_draft:';
  const MAX_ROWS = 500;

  const ed = {
    id: null,            // the quiz id being edited, or 'new'
    quiz: null,          // {title, questions:[{text, kind, choices, right, time_limit_s, image}]}
    version: null,       // the stored version this draft started from
    ctx: null,           // {show, needLogin, back} from host.js
    checkTimer: null,
    checkSeq: 0,
    importRows: null,    // the previewed rows: [{row, question, errors}]
  };

  // ---- the draft and the pool format ---------------------------------------

  function blankQuestion() {
    return { text: '', kind: 'single', choices: ['', ''], right: ['A'], time_limit_s: 20, image: '' };
  }

  // A stored question (pool JSON) as the editor holds it.
  function fromPool(q) {
    const kind = KINDS.some(([k]) => k === q.kind) ? q.kind : 'single';
    let right = [];
    if (Array.isArray(q.answers)) right = q.answers.filter((a) => typeof a === 'string');
    else if (typeof q.answers === 'string') right = q.answers.split('');
    else if (typeof q.answer === 'string') right = kind === 'multi' ? q.answer.split('') : [q.answer];
    return {
      text: typeof q.text === 'string' ? q.text : '',
      kind,
      choices: Array.isArray(q.choices) ? q.choices.map((c) => (typeof c === 'string' ? c : '')).slice(0, 6) : ['', ''],
      right,
      time_limit_s: Number.isInteger(q.time_limit_s) ? q.time_limit_s : 20,
      image: typeof q.image === 'string' ? q.image : '',
    };
  }

  // The editor's question in the pool format (docs/QUIZZES.md): `kind` only
  // when not "single", `answer` for single/truefalse, `answers` for multi.
  function toPoolQuestion(q) {
    const out = { text: q.text, choices: q.choices.slice() };
    if (q.kind !== 'single') out.kind = q.kind;
    const right = LETTERS.filter((L) => q.right.includes(L));
    if (q.kind === 'multi') out.answers = right;
    else if (q.kind !== 'poll') out.answer = right[0] || '';
    out.time_limit_s = q.time_limit_s;
    if (q.image) out.image = q.image;
    return out;
  }

  function toPool() {
    return { title: ed.quiz.title, questions: ed.quiz.questions.map(toPoolQuestion) };
  }

  function saveDraft() {
    try { localStorage.setItem(DRAFT + ed.id, JSON.stringify({ version: ed.version, quiz: ed.quiz })); } catch (e) { /* full or private */ }
  }

  function loadDraft(id) {
    try {
      const d = JSON.parse(localStorage.getItem(DRAFT + id) || 'null');
      return d && d.quiz && Array.isArray(d.quiz.questions) ? d : null;
    } catch (e) { return null; }
  }

  function dropDraft(id) {
    try { localStorage.removeItem(DRAFT + id); } catch (e) { /* private mode */ }
  }

  // Called after every edit: keep it in the browser, check it soon.
  function changed() {
    saveDraft();
    $('ed-draft-state').textContent = 'Unsaved changes (kept in this browser)';
    clearTimeout(ed.checkTimer);
    ed.checkTimer = setTimeout(check, 500);
  }

  // ---- inline errors from the server's check --------------------------------

  function fieldId(qi, field) {
    if (qi === null) return field === 'title' ? 'ed-title' : 'ed-questions-error';
    const f = field === 'answer' || field === 'answers' ? 'right' : field === 'time_limit_s' ? 'time' : field;
    return 'ed-q' + qi + '-' + (['text', 'kind', 'choices', 'right', 'time', 'image'].includes(f) ? f : 'text');
  }

  function clearErrors() {
    for (const p of document.querySelectorAll('#view-editor .field-error')) { p.hidden = true; p.textContent = ''; }
    for (const i of document.querySelectorAll('#view-editor [aria-invalid="true"]')) i.removeAttribute('aria-invalid');
    for (const c of document.querySelectorAll('#view-editor .ed-q.has-error')) c.classList.remove('has-error');
  }

  // Puts the server's error beside the field it names.
  function showError(err) {
    clearErrors();
    if (!err) return;
    const qi = Number.isInteger(err.question) ? err.question - 1 : null;
    const id = fieldId(qi, err.field || '');
    const box = $(id + '-error') || $('ed-questions-error');
    box.textContent = err.message || 'This quiz was refused.';
    box.hidden = false;
    const input = $(id);
    if (input && input.tagName !== 'DIV' && input.tagName !== 'FIELDSET') input.setAttribute('aria-invalid', 'true');
    if (qi !== null && $('ed-q' + qi)) $('ed-q' + qi).classList.add('has-error');
  }

  async function check() {
    const seq = ++ed.checkSeq;
    const r = await api('POST', '/admin/api/quizzes/validate', toPool());
    if (seq !== ed.checkSeq || document.body.dataset.view !== 'editor') return null;
    if (ed.ctx.needLogin(r)) return null;
    if (r.status === 200) { clearErrors(); setText('ed-check', 'No problems found.'); return true; }
    if (r.status === 400 && r.json) { showError(r.json); setText('ed-check', 'Fix the marked field before saving.'); return false; }
    setText('ed-check', r.status === 413 ? 'The quiz is over 1 MiB.' : 'The check is not available right now.');
    return null;
  }

  // ---- rendering ---------------------------------------------------------------

  function render() {
    $('ed-title').value = ed.quiz.title;
    const list = $('ed-questions');
    clear(list);
    ed.quiz.questions.forEach((q, i) => list.append(renderQuestion(q, i)));
    setText('ed-count', ed.quiz.questions.length + (ed.quiz.questions.length === 1 ? ' question' : ' questions'));
    const stored = ed.id !== 'new';
    for (const a of [$('ed-export-csv'), $('ed-export-json'), $('ed-duplicate'), $('ed-delete')]) a.hidden = !stored;
    if (stored) {
      $('ed-export-csv').href = '/admin/api/quizzes/' + encodeURIComponent(ed.id) + '/export.csv';
      $('ed-export-json').href = '/admin/api/quizzes/' + encodeURIComponent(ed.id) + '/export.json';
    }
  }

  function errorP(id) { return el('p.field-error', { id: id + '-error', role: 'alert', hidden: true }); }

  function renderQuestion(q, i) {
    const pre = 'ed-q' + i;
    const n = ed.quiz.questions.length;
    const move = (d) => {
      const qs = ed.quiz.questions;
      [qs[i], qs[i + d]] = [qs[i + d], qs[i]];
      render();
      changed();
      const b = $('ed-q' + (i + d) + (d < 0 ? '-up' : '-down'));
      (b && !b.disabled ? b : $('ed-q' + (i + d) + '-text')).focus();
    };
    const up = el('button.btn.btn-ghost.btn-small', { type: 'button', id: pre + '-up', text: '↑', 'aria-label': 'Move question ' + (i + 1) + ' up', disabled: i === 0 });
    const down = el('button.btn.btn-ghost.btn-small', { type: 'button', id: pre + '-down', text: '↓', 'aria-label': 'Move question ' + (i + 1) + ' down', disabled: i === n - 1 });
    const del = el('button.btn.btn-ghost.btn-small', { type: 'button', text: 'Remove', 'aria-label': 'Remove question ' + (i + 1), disabled: n === 1 });
    up.addEventListener('click', () => move(-1));
    down.addEventListener('click', () => move(1));
    del.addEventListener('click', () => { ed.quiz.questions.splice(i, 1); render(); changed(); });

    const text = el('textarea', { id: pre + '-text', rows: 2, 'aria-describedby': pre + '-text-error' });
    text.value = q.text;
    text.addEventListener('input', () => { q.text = text.value; changed(); });

    const kind = el('select', { id: pre + '-kind', 'aria-describedby': pre + '-kind-error' });
    for (const [k, label] of KINDS) kind.append(el('option', { value: k, text: label, selected: q.kind === k }));
    kind.addEventListener('change', () => {
      q.kind = kind.value;
      if (q.kind === 'truefalse') {
        q.choices = [q.choices[0] || 'True', q.choices[1] || 'False'];
        if (q.choices[0] === '' && q.choices[1] === '') q.choices = ['True', 'False'];
      }
      if (q.kind === 'poll') q.right = [];
      else if (q.kind !== 'multi') q.right = q.right.slice(0, 1).filter((L) => LETTERS.indexOf(L) < q.choices.length);
      render();
      changed();
      $(pre + '-kind').focus();
    });

    const time = el('input', { id: pre + '-time', type: 'number', min: 5, max: 600, step: 1, inputmode: 'numeric', 'aria-describedby': pre + '-time-error' });
    time.value = String(q.time_limit_s);
    time.addEventListener('input', () => {
      const v = Number(time.value);
      q.time_limit_s = time.value.trim() !== '' && Number.isFinite(v) ? v : time.value;
      changed();
    });

    const image = el('input', { id: pre + '-image', autocomplete: 'off', spellcheck: 'false', placeholder: 'none', 'aria-describedby': pre + '-image-error' });
    image.value = q.image;
    image.addEventListener('input', () => { q.image = image.value.trim(); changed(); });
    const pictureHook = el('div.ed-picture-hook', { id: pre + '-picture' });
    // HOOK(pictures): the console's picture control (pictures.js,
    // QWPictures.control) uploads a file and sets this question's image id;
    // the current picture is shown under it.
    if (typeof QWPictures !== 'undefined' && QWPictures && typeof QWPictures.control === 'function') {
      pictureHook.append(QWPictures.control({
        label: 'Upload a picture for question ' + (i + 1) + ' (PNG, JPEG or WebP)',
        onUploaded: (p) => { image.value = p.image; q.image = p.image; changed(); },
      }));
      if (q.image) {
        const fig = el('figure.q-figure.picture-preview');
        pictureHook.append(fig);
        QWPictures.show(fig, q.image, q.text);
      }
    }

    return el('li.card.ed-q', { id: pre, 'aria-labelledby': pre + '-h' },
      el('div.ed-q-head', null, el('h2', { id: pre + '-h', text: 'Question ' + (i + 1) }),
        el('div.ed-q-tools', { role: 'group', 'aria-label': 'Question ' + (i + 1) + ' order' }, up, down, del)),
      el('label', { for: pre + '-text', text: 'Question text' }), text, errorP(pre + '-text'),
      el('div.ed-row', null,
        el('div', null, el('label', { for: pre + '-kind', text: 'Kind' }), kind, errorP(pre + '-kind')),
        el('div', null, el('label', { for: pre + '-time', text: 'Time limit (seconds)' }), time, errorP(pre + '-time'))),
      renderChoices(q, i),
      el('label', { for: pre + '-image', text: 'Picture id (optional)' }), image, pictureHook, errorP(pre + '-image'));
  }

  function renderChoices(q, i) {
    const pre = 'ed-q' + i;
    const box = el('fieldset.ed-choices', { id: pre + '-choices', 'aria-describedby': pre + '-choices-error ' + pre + '-right-error' });
    const how = q.kind === 'multi' ? 'Tick every right answer.' : q.kind === 'poll' ? 'A poll has no right answer.' : 'Pick the right answer.';
    box.append(el('legend', { text: 'Choices' }), el('p.muted.ed-hint', { text: how }));
    q.choices.forEach((c, ci) => {
      const L = LETTERS[ci];
      const input = el('input', { id: pre + '-c' + ci, 'aria-label': 'Choice ' + L, autocomplete: 'off' });
      input.value = c;
      input.addEventListener('input', () => { q.choices[ci] = input.value; changed(); });
      let mark = null;
      if (q.kind !== 'poll') {
        const type = q.kind === 'multi' ? 'checkbox' : 'radio';
        const box2 = el('input', { type, id: pre + '-r' + ci, name: pre + '-right', value: L, checked: q.right.includes(L) });
        box2.addEventListener('change', () => {
          if (type === 'radio') q.right = [L];
          else q.right = LETTERS.filter((x, xi) => xi < q.choices.length && (x === L ? box2.checked : q.right.includes(x)));
          changed();
        });
        mark = el('label.ed-right', { for: pre + '-r' + ci }, box2, el('span', { text: 'Right' }), el('span.sr-only', { text: ' (' + L + ')' }));
      }
      const rm = el('button.btn.btn-ghost.btn-small', { type: 'button', text: '✕', 'aria-label': 'Remove choice ' + L, disabled: q.choices.length <= 2 || q.kind === 'truefalse' });
      rm.addEventListener('click', () => {
        q.choices.splice(ci, 1);
        q.right = q.right.map((x) => LETTERS.indexOf(x)).filter((x) => x !== ci).map((x) => LETTERS[x > ci ? x - 1 : x]);
        render();
        changed();
      });
      box.append(el('div.ed-choice', null, el('span.ed-letter', { text: L, 'aria-hidden': 'true' }), input, mark, rm));
    });
    const add = el('button.btn.btn-ghost.btn-small', { type: 'button', text: '+ Add choice', disabled: q.choices.length >= 6 || q.kind === 'truefalse' });
    add.addEventListener('click', () => {
      q.choices.push('');
      render();
      changed();
      $(pre + '-c' + (q.choices.length - 1)).focus();
    });
    box.append(add, errorP(pre + '-choices'), errorP(pre + '-right'));
    return box;
  }

  // ---- open, save, leave ----------------------------------------------------------

  async function open(id, ctx) {
    ed.ctx = ctx;
    ed.id = id;
    ed.importRows = null;
    $('ed-import').hidden = true;
    clearTimeout(ed.checkTimer);
    setText('ed-status', '');
    setText('ed-check', '');
    const draft = loadDraft(id);
    let stored = null;
    if (id !== 'new') {
      const r = await api('GET', '/admin/api/quizzes/' + encodeURIComponent(id));
      if (ctx.needLogin(r)) return;
      if (r.status !== 200 || !r.json) {
        ctx.show('editor');
        ed.quiz = { title: '', questions: [] };
        render();
        setText('ed-status', r.status === 404 ? 'That quiz does not exist (or was deleted).' : (r.message || 'The quiz could not be loaded.'));
        return;
      }
      stored = r.json;
    }
    ctx.show('editor');
    setText('editor-title', id === 'new' ? 'New quiz' : 'Edit quiz');
    $('ed-draft-note').hidden = !draft;
    if (draft) {
      ed.quiz = draft.quiz;
      ed.version = draft.version;
      $('ed-draft-state').textContent = 'Unsaved changes (kept in this browser)';
    } else {
      ed.quiz = stored ? { title: stored.title || '', questions: (stored.questions || []).map(fromPool) }
        : { title: '', questions: [blankQuestion()] };
      ed.version = stored ? stored.version : null;
      $('ed-draft-state').textContent = stored ? 'Saved' : 'Not saved yet';
    }
    setText('ed-meta', !stored ? '' : stored.replaced_by ? 'Version ' + stored.version + ', replaced by quiz ' + stored.replaced_by + ': open that one from the list to edit it.'
      : 'Version ' + stored.version + (stored.played ? ' · played: saving keeps the played version for its results and stores a new one' : ''));
    render();
    if (draft) check();
  }

  async function save() {
    const btn = $('ed-save');
    btn.disabled = true;
    setText('ed-status', 'Saving…');
    const isNew = ed.id === 'new';
    const r = await api(isNew ? 'POST' : 'PUT', isNew ? '/admin/api/quizzes' : '/admin/api/quizzes/' + encodeURIComponent(ed.id), toPool());
    btn.disabled = false;
    if (ed.ctx.needLogin(r)) return;
    if (r.status === 200 && r.json) {
      dropDraft(ed.id);
      const newId = String(r.json.quiz_id);
      const msg = r.json.new_version ? 'Saved as version ' + r.json.version + '. The played version is kept for its results.'
        : 'Saved.';
      $('ed-draft-note').hidden = true;
      if (newId !== ed.id) {
        history.replaceState(null, '', '/host#edit=' + encodeURIComponent(newId));
        await open(newId, ed.ctx);
      }
      $('ed-draft-state').textContent = 'Saved';
      setText('ed-status', msg);
      return;
    }
    if (r.status === 400 && r.json) { showError(r.json); setText('ed-status', 'Not saved: ' + r.json.message); return; }
    if (r.status === 409 && r.json && r.json.replaced_by) {
      setText('ed-status', 'Not saved: this quiz was saved elsewhere as a new version. Your changes stay in this browser; open the new version to edit it.');
      return;
    }
    setText('ed-status', 'Not saved: ' + (r.status === 413 ? 'the quiz is over 1 MiB.' : r.message || 'try again.') + ' Your changes stay in this browser.');
  }

  async function duplicate() {
    const r = await api('POST', '/admin/api/quizzes/' + encodeURIComponent(ed.id) + '/duplicate');
    if (ed.ctx.needLogin(r)) return;
    if (r.status !== 200 || !r.json) { setText('ed-status', 'Not duplicated: ' + (r.message || 'try again.')); return; }
    history.pushState(null, '', '/host#edit=' + encodeURIComponent(r.json.quiz_id));
    await open(String(r.json.quiz_id), ed.ctx);
    setText('ed-status', 'This is the copy, “' + r.json.title + '”. The original is unchanged.');
  }

  // Deleting needs a second press within 3 s (no modal dialog).
  async function remove() {
    const btn = $('ed-delete');
    if (!remove.armed || Date.now() - remove.armed > 3000) {
      remove.armed = Date.now();
      setText(btn, 'Press again to delete');
      setTimeout(() => setText(btn, 'Delete'), 3000);
      return;
    }
    remove.armed = 0;
    const r = await api('DELETE', '/admin/api/quizzes/' + encodeURIComponent(ed.id));
    if (ed.ctx.needLogin(r)) return;
    if (r.status !== 200) { setText('ed-status', 'Not deleted: ' + (r.message || 'try again.')); return; }
    dropDraft(ed.id);
    ed.ctx.back();
  }

  function discard() {
    dropDraft(ed.id);
    open(ed.id, ed.ctx);
  }

  // ---- CSV import ----------------------------------------------------------------

  // The template's columns (docs/QUIZZES.md), by their header, any case.
  function column(header) {
    const h = String(header || '').trim().toLowerCase().replace(/\s+/g, ' ');
    if (h === 'question' || h === 'text') return 'text';
    if (h === 'kind' || h === 'type') return 'kind';
    let m = /^(?:choice|answer|option) ?([a-f])$/.exec(h);
    if (m) return 'c' + LETTERS.indexOf(m[1].toUpperCase());
    if (/^right answers?(?: ?\(s\))?$/.test(h) || h === 'right' || h === 'correct') return 'right';
    if (/^time(?: limit)?(?: ?\(s\)| ?\(seconds\)| s)?$/.test(h) || h === 'time_limit_s') return 'time';
    if (h === 'image' || h === 'picture') return 'image';
    return null;
  }

  // One CSV record as a question; errors are [field, message] pairs of what
  // the CSV itself gets wrong (the rules of a question are the server's).
  function rowToQuestion(rec) {
    const errors = [];
    const get = (k) => (rec[k] === undefined || rec[k] === null ? '' : String(rec[k]).trim());
    const kindText = get('kind').toLowerCase().replace(/[\s/_-]+/g, '');
    const kinds = { '': 'single', single: 'single', multi: 'multi', multiple: 'multi', truefalse: 'truefalse', tf: 'truefalse', poll: 'poll' };
    const kind = kinds[kindText];
    if (!kind) errors.push(['kind', 'kind "' + get('kind') + '" is not single, multi, truefalse or poll']);
    const cells = LETTERS.map((_, i) => get('c' + i));
    let last = -1;
    cells.forEach((c, i) => { if (c) last = i; });
    const choices = cells.slice(0, last + 1);
    const gap = choices.findIndex((c) => c === '');
    if (gap >= 0) errors.push(['choices', 'choice ' + LETTERS[gap] + ' is empty but a later choice is filled']);
    let choicesOut = choices;
    if (kind === 'truefalse' && choices.length === 0) choicesOut = ['True', 'False'];
    const rightText = get('right').toUpperCase();
    const right = rightText === '' ? [] : rightText.split(/[\s;,]+|(?=[A-F])/).filter(Boolean);
    if (right.some((x) => !LETTERS.includes(x))) errors.push(['right', 'right answer(s) "' + get('right') + '" must be letters A to F, e.g. B or A;C']);
    const t = get('time');
    let time = 20;
    if (t !== '') {
      time = Number(t);
      if (!/^\d+$/.test(t)) errors.push(['time_limit_s', 'time limit "' + t + '" must be a whole number of seconds']);
    }
    return {
      question: { text: get('text'), kind: kind || 'single', choices: choicesOut, right: [...new Set(right)], time_limit_s: time, image: get('image') },
      errors,
    };
  }

  async function importFile(file) {
    const out = $('ed-import-rows');
    clear(out);
    $('ed-import').hidden = false;
    setText('ed-import-summary', 'Reading ' + file.name + '…');
    $('ed-import-add').hidden = true;
    if (file.size > 1024 * 1024) {
      setText('ed-import-summary', file.name + ' is over 1 MiB, the most a quiz can be. Split it into smaller files.');
      return;
    }
    const text = await file.text();
    const parsed = Papa.parse(text, { header: true, skipEmptyLines: false });
    // the template's columns by header (mapped here rather than with
    // transformHeader, which papaparse 5.5 applies twice)
    const cols = (parsed.meta.fields || []).map((h) => [h, column(h)]).filter(([, c]) => c);
    const records = parsed.data.map((rec) => Object.fromEntries(cols.map(([h, c]) => [c, rec[h]])));
    if (!cols.some(([, c]) => c === 'text')) {
      setText('ed-import-summary', 'This file has no "question" column. The first row must name the columns of the template (question, kind, choice A … choice F, right answer(s), time limit (s), image).');
      return;
    }
    // row numbers as a spreadsheet shows them (the header is row 1); empty
    // rows are skipped but keep their numbers
    const rows = records.map((rec, i) => ({ row: i + 2, rec }))
      .filter(({ rec }) => Object.values(rec).some((v) => v !== undefined && String(v).trim() !== ''))
      .slice(0, MAX_ROWS).map(({ row, rec }) => ({ row, ...rowToQuestion(rec) }));
    for (const e of parsed.errors) {
      const r = rows.find((x) => x.row === e.row + 2);
      if (r && e.code !== 'TooFewFields' && e.code !== 'TooManyFields') r.errors.push(['row', e.message]);
    }
    // every row through the server's own check, a few at a time
    const queue = rows.filter((r) => r.errors.length === 0);
    const worker = async () => {
      for (let r = queue.shift(); r; r = queue.shift()) {
        const res = await api('POST', '/admin/api/quizzes/validate', { title: 'import', questions: [toPoolQuestion(r.question)] });
        if (res.status === 400 && res.json) r.errors.push([res.json.field || 'row', String(res.json.message || '').replace(/^question 1: /, '')]);
        else if (res.status !== 200) r.errors.push(['row', 'could not be checked (' + (res.message || res.status) + ')']);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    ed.importRows = rows;
    const good = rows.filter((r) => r.errors.length === 0);
    for (const r of rows) {
      const right = r.question.kind === 'poll' ? '—' : r.question.right.join(';');
      out.append(el('tr' + (r.errors.length ? '.bad' : ''), { 'data-row': String(r.row) },
        el('th', { scope: 'row', text: String(r.row) }),
        el('td', { text: r.question.text }),
        el('td', { text: r.question.kind }),
        el('td', { text: r.question.choices.map((c, i) => LETTERS[i] + ': ' + c).join(' · ') }),
        el('td', { text: right }),
        el('td.ed-row-status', { text: r.errors.length ? r.errors.map(([f, m]) => 'row ' + r.row + ', ' + f + ': ' + m).join('; ') : 'OK' })));
    }
    const extra = records.length > MAX_ROWS + 1 && rows.length === MAX_ROWS ? ' Only the first ' + MAX_ROWS + ' rows were read.' : '';
    setText('ed-import-summary', file.name + ': ' + rows.length + ' rows, ' + good.length + ' ready, ' + (rows.length - good.length) + ' with errors (fix them in the file and import again).' + extra);
    $('ed-import-add').hidden = good.length === 0;
    setText('ed-import-add', 'Add the ' + good.length + ' good ' + (good.length === 1 ? 'row' : 'rows') + ' to the quiz');
  }

  function addImported() {
    const good = (ed.importRows || []).filter((r) => r.errors.length === 0).map((r) => r.question);
    if (!good.length) return;
    const only = ed.quiz.questions.length === 1 && !ed.quiz.questions[0].text && ed.quiz.questions[0].choices.every((c) => !c);
    ed.quiz.questions = (only ? [] : ed.quiz.questions).concat(good);
    if (!ed.quiz.title) ed.quiz.title = ($('ed-csv').files[0] ? $('ed-csv').files[0].name.replace(/\.csv$/i, '') : '').slice(0, 200);
    $('ed-import').hidden = true;
    ed.importRows = null;
    render();
    changed();
    setText('ed-status', good.length + ' questions added. Check them and save.');
  }

  function start() {
    $('ed-title').addEventListener('input', () => { ed.quiz.title = $('ed-title').value; changed(); });
    $('ed-add').addEventListener('click', () => {
      ed.quiz.questions.push(blankQuestion());
      render();
      changed();
      $('ed-q' + (ed.quiz.questions.length - 1) + '-text').focus();
    });
    $('ed-save').addEventListener('click', save);
    $('ed-discard').addEventListener('click', discard);
    $('ed-duplicate').addEventListener('click', duplicate);
    $('ed-delete').addEventListener('click', remove);
    $('ed-back').addEventListener('click', () => ed.ctx.back());
    $('ed-csv').addEventListener('change', () => { const f = $('ed-csv').files[0]; if (f) importFile(f); });
    $('ed-import-add').addEventListener('click', addImported);
    $('ed-import-cancel').addEventListener('click', () => { $('ed-import').hidden = true; ed.importRows = null; $('ed-csv').value = ''; });
  }

  start(); // deferred: the page is parsed
  return { open, hasDraft: (id) => !!loadDraft(String(id)) };
})();
