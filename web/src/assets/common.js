// common.js: what the student page and the instructor console share: DOM
// helpers that only ever insert text with textContent (never innerHTML: every
// name and question comes from users), the answer shapes, the connection
// banner, the bar chart of how the class answered, and a WebSocket that
// reconnects by itself with backoff.
'use strict';

const QW = (() => {
  const SVGNS = 'http://www.w3.org/2000/svg';
  const LABELS = ['A', 'B', 'C', 'D', 'E', 'F'];
  const SHAPES = { A: 'triangle', B: 'diamond', C: 'circle', D: 'square', E: 'pentagon', F: 'hexagon' };
  // What each kind of question asks of a student (docs/API.md "Kinds of question").
  const KINDS = {
    single: 'One right answer',
    multi: 'Several right answers: pick every one, then Submit',
    truefalse: 'True or false',
    poll: 'Poll: no right answer, your vote counts',
  };

  // el('div.cls', {attr: v}, child, 'text', ...): builds an element.
  function el(spec, attrs, ...kids) {
    const [tag, ...classes] = spec.split('.');
    const e = document.createElement(tag || 'div');
    if (classes.length) e.className = classes.join(' ');
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') e.textContent = String(v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
    return e;
  }

  function $(id) { return document.getElementById(id); }

  function setText(idOrEl, text) {
    const e = typeof idOrEl === 'string' ? $(idOrEl) : idOrEl;
    if (e) e.textContent = text === null || text === undefined ? '' : String(text);
  }

  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }

  // The shape that goes with an answer label, as an inline SVG (decorative:
  // the label letter beside it is what a screen reader reads).
  function shape(label) {
    const svg = document.createElementNS(SVGNS, 'svg');
    svg.setAttribute('viewBox', '0 0 100 100');
    svg.setAttribute('class', 'shape');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    let s;
    switch (SHAPES[label]) {
      case 'triangle':
        s = document.createElementNS(SVGNS, 'polygon');
        s.setAttribute('points', '50,8 94,88 6,88');
        break;
      case 'diamond':
        s = document.createElementNS(SVGNS, 'polygon');
        s.setAttribute('points', '50,4 96,50 50,96 4,50');
        break;
      case 'circle':
        s = document.createElementNS(SVGNS, 'circle');
        s.setAttribute('cx', '50'); s.setAttribute('cy', '50'); s.setAttribute('r', '44');
        break;
      case 'pentagon':
        s = document.createElementNS(SVGNS, 'polygon');
        s.setAttribute('points', '50,5 95,38 78,92 22,92 5,38');
        break;
      case 'hexagon':
        s = document.createElementNS(SVGNS, 'polygon');
        s.setAttribute('points', '27,8 73,8 96,50 73,92 27,92 4,50');
        break;
      default:
        s = document.createElementNS(SVGNS, 'rect');
        s.setAttribute('x', '10'); s.setAttribute('y', '10');
        s.setAttribute('width', '80'); s.setAttribute('height', '80');
    }
    s.setAttribute('fill', 'currentColor');
    svg.append(s);
    return svg;
  }

  function shapeName(label) { return SHAPES[label] || ''; }

  // A bar per choice: shape, letter, choice text, count. `right` (a list of
  // labels: one for single/truefalse, several for multi; null for a poll or
  // while open) marks the right ones and fades the others.
  function drawChart(box, choices, counts, right) {
    clear(box);
    box.classList.toggle('many', choices.length > 4); // five or six bars: tighter labels
    const marks = Array.isArray(right) && right.length ? right : null;
    const max = Math.max(1, ...choices.map((_, i) => counts[LABELS[i]] || 0));
    choices.forEach((text, i) => {
      const L = LABELS[i];
      if (!L) return;
      const n = counts[L] || 0;
      const isRight = !!marks && marks.includes(L);
      const bar = el('div.bar-fill');
      bar.style.height = Math.round((n / max) * 100) + '%';
      bar.style.setProperty('--share', Math.round((n / max) * 100) + '%'); // a phone's bars run across
      const col = el('div.bar.ans-' + L + (marks ? (isRight ? '.right' : '.faded') : ''),
        { role: 'img', 'aria-label': L + ' ' + text + ': ' + n + (isRight ? ' (right answer)' : '') },
        el('div.bar-count', { text: String(n) }),
        el('div.bar-track', null, bar),
        el('div.bar-label', null, shape(L), el('span.letter', { text: L }), el('span.choice-text', { text }),
          isRight ? el('span.tick', { text: '✓', 'aria-hidden': 'true' }) : null));
      box.append(col);
    });
  }

  // The right labels a question_closed, snapshot or report row reveals:
  // ["A"] (single, truefalse), ["A","C"] (multi), [] (a poll: none).
  function rightLabels(m) {
    if (Array.isArray(m.answers)) return m.answers.filter((l) => LABELS.includes(l));
    return typeof m.answer === 'string' && LABELS.includes(m.answer) ? [m.answer] : [];
  }

  // Connection banner: shown while the socket is down, then "back" for 2.5 s.
  let bannerTimer = null;
  function banner(kind, text) {
    const b = $('conn-banner');
    if (!b) return;
    clearTimeout(bannerTimer);
    if (!kind) { b.hidden = true; b.className = 'banner'; return; }
    b.className = 'banner banner-' + kind;
    b.textContent = text;
    b.hidden = false;
    if (kind === 'ok') bannerTimer = setTimeout(() => { b.hidden = true; }, 2500);
  }

  // A WebSocket that reconnects with exponential backoff (0.5 s .. 10 s with
  // jitter), at once when the tab becomes visible or the network comes back,
  // and checks a socket that may have died while the device slept with a
  // ping. handlers: {message(m), open(), lost(), refused(code, opened)}.
  // `refused` decides whether to stop: return true to stop reconnecting.
  class Socket {
    constructor(path, handlers) {
      this.path = path;
      this.h = handlers;
      this.ws = null;
      this.attempt = 0;
      this.timer = null;
      this.stopped = false;
      this.wasLost = false;
      this.pongWait = null;
      this.failsBeforeOpen = 0;
      this.onWake = () => this.wake();
      document.addEventListener('visibilitychange', this.onWake);
      window.addEventListener('online', this.onWake);
      window.addEventListener('pageshow', this.onWake);
    }
    url() {
      return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + this.path;
    }
    connect() {
      if (this.stopped) return;
      clearTimeout(this.timer);
      this.timer = null;
      let ws;
      try { ws = new WebSocket(this.url()); } catch (e) { this.schedule(); return; }
      this.ws = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        this.attempt = 0;
        this.failsBeforeOpen = 0;
        if (this.wasLost) banner('ok', 'Connected again.');
        this.wasLost = false;
        if (this.h.open) this.h.open();
      };
      ws.onmessage = (ev) => {
        let m;
        try { m = JSON.parse(ev.data); } catch (e) { return; }
        if (!m || typeof m.type !== 'string') return;
        if (m.type === 'pong') { clearTimeout(this.pongWait); this.pongWait = null; return; }
        this.h.message(m);
      };
      ws.onclose = (ev) => {
        if (this.ws !== ws) return;
        this.ws = null;
        clearTimeout(this.pongWait);
        if (this.stopped) return;
        if (!opened) this.failsBeforeOpen++;
        Promise.resolve(this.h.refused ? this.h.refused(ev.code, opened, this.failsBeforeOpen) : false)
          .then((stop) => {
            if (stop) { this.stop(); return; }
            if (!this.wasLost) {
              this.wasLost = true;
              banner('lost', 'Connection lost — reconnecting…');
              if (this.h.lost) this.h.lost();
            }
            this.schedule();
          });
      };
    }
    schedule() {
      if (this.stopped || this.timer) return;
      const base = Math.min(10000, 500 * 2 ** this.attempt);
      this.attempt++;
      this.timer = setTimeout(() => { this.timer = null; this.connect(); }, base / 2 + Math.random() * base / 2);
    }
    // The tab is visible again or the network is back: reconnect now, or
    // prove the open socket is alive with a ping answered within 3 s.
    wake() {
      if (this.stopped || document.visibilityState === 'hidden') return;
      if (!this.ws) { this.attempt = 0; this.connect(); return; }
      if (this.ws.readyState === WebSocket.OPEN && !this.pongWait) {
        this.send({ type: 'ping' });
        const ws = this.ws;
        this.pongWait = setTimeout(() => { this.pongWait = null; if (this.ws === ws) ws.close(); }, 3000);
      }
    }
    send(obj) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) { this.ws.send(JSON.stringify(obj)); return true; }
      return false;
    }
    isOpen() { return !!this.ws && this.ws.readyState === WebSocket.OPEN; }
    stop() {
      this.stopped = true;
      clearTimeout(this.timer);
      document.removeEventListener('visibilitychange', this.onWake);
      window.removeEventListener('online', this.onWake);
      window.removeEventListener('pageshow', this.onWake);
      if (this.ws) { const ws = this.ws; this.ws = null; ws.close(); }
      banner(null);
    }
  }

  // A countdown driven by the server's remaining_ms; sync() on every message.
  class Countdown {
    constructor(onTick) { this.onTick = onTick; this.deadline = null; this.total = 1; this.iv = null; }
    sync(remainingMs, totalMs) {
      if (typeof remainingMs !== 'number') return;
      this.deadline = performance.now() + Math.max(0, remainingMs);
      if (typeof totalMs === 'number' && totalMs > 0) this.total = totalMs;
      if (!this.iv) this.iv = setInterval(() => this.tick(), 200);
      this.tick();
    }
    left() { return this.deadline === null ? 0 : Math.max(0, this.deadline - performance.now()); }
    tick() {
      const ms = this.left();
      this.onTick(ms, Math.min(1, ms / this.total));
      if (ms <= 0) this.stop(false);
    }
    stop(clearDeadline = true) {
      clearInterval(this.iv);
      this.iv = null;
      if (clearDeadline) this.deadline = null;
    }
  }

  async function api(method, path, body, opts = {}) {
    const init = { method, headers: {}, credentials: 'same-origin' };
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
    }
    let res;
    try { res = await fetch(path, init); } catch (e) {
      return { status: 0, json: null, error: 'network', message: 'The server cannot be reached. Check the network and try again.' };
    }
    let json = null;
    try { json = await res.json(); } catch (e) { /* not JSON */ }
    return {
      status: res.status,
      json,
      error: json && json.error,
      message: (json && json.message) || res.statusText,
      retryAfter: res.headers.get('Retry-After'),
    };
  }

  function ordinal(n) {
    const s = ['th', 'st', 'nd', 'rd'];
    const v = n % 100;
    return n + (s[(v - 20) % 10] || s[v] || s[0]);
  }

  return {
    el, $, setText, clear, shape, shapeName, banner, Socket, Countdown, api, ordinal, LABELS, KINDS, drawChart,
    rightLabels,
  };
})();
