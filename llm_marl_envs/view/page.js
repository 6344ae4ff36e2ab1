/* llm-marl view: the rollout page (episodes and trees), rendered lazily from the JSON block.
   Every piece of data reaches the DOM through textContent; nothing from the data is parsed as HTML. */
(function () {
  'use strict';
  var body = document.body;
  function fail(text) {
    var p = document.getElementById('errors');
    if (p) { p.hidden = false; p.textContent += text + '\n'; }
    body.setAttribute('data-error', '1');
  }
  window.addEventListener('error', function (e) { fail('JS error: ' + e.message + ' (line ' + e.lineno + ')'); });

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function add(parent, child) { parent.appendChild(child); return child; }
  function num(v, d) { return (v === null || v === undefined || typeof v !== 'number') ? '–' : v.toFixed(d === undefined ? 3 : d); }

  var tParse = performance.now();
  var block = document.getElementById('view-data');
  var D = JSON.parse(block.textContent);
  block.textContent = '';  // parsed once: the DOM need not keep a second copy of the data
  body.setAttribute('data-parse-ms', String(Math.round(performance.now() - tParse)));
  if (D.kind !== 'rollout') { body.setAttribute('data-ok', '1'); return; }

  var S = D.strings, EP = D.episodes, TR = D.trees;
  var roleIndex = {}; D.roles.forEach(function (r, i) { roleIndex[r] = i; });
  var PAGE = { episodes: 50, trees: 10 };
  var state = { tab: EP.length || !TR.length ? 'episodes' : 'trees', q: '', task: '', role: '', verdict: '', rmin: '', rmax: '', page: 0, open: '' };

  // ---------------------------------------------------------------- state <-> location.hash
  function readHash() {
    var h = location.hash.replace(/^#/, '');
    if (!h) return;
    h.split('&').forEach(function (kv) {
      var i = kv.indexOf('='); if (i < 0) return;
      var k = decodeURIComponent(kv.slice(0, i)), v = decodeURIComponent(kv.slice(i + 1).replace(/\+/g, ' '));
      if (Object.prototype.hasOwnProperty.call(state, k)) state[k] = k === 'page' ? (parseInt(v, 10) || 0) : v;
    });
  }
  function writeHash() {
    var parts = [];
    Object.keys(state).forEach(function (k) { if (state[k] !== '' && !(k === 'page' && state[k] === 0)) parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(state[k])); });
    try { history.replaceState(null, '', '#' + parts.join('&')); } catch (e) { /* file:// in some browsers */ }
  }

  // ---------------------------------------------------------------- filtering
  var searchText = { episodes: null, trees: null };
  function epText(e) {
    var parts = [e.id, e.task, S[e.prompt], e.answer || '', (e.verdict && e.verdict.extracted) || ''];
    e.msgs.forEach(function (m) { parts.push(m.content); });
    return parts.join('\n').toLowerCase();
  }
  function treeText(t) {
    var parts = [t.id, t.task, S[t.prompt], t.answer || ''];
    t.nodes.forEach(function (n) { if (n.msg) parts.push(n.msg.content); });
    return parts.join('\n').toLowerCase();
  }
  function verdictOk(v) {
    if (!state.verdict) return true;
    if (!v) return false;
    if (state.verdict === 'correct') return v.correct;
    if (state.verdict === 'incorrect') return !v.correct;
    return v.status === state.verdict;
  }
  function matches(kind) {
    var items = kind === 'episodes' ? EP : TR;
    if (state.q && !searchText[kind]) searchText[kind] = items.map(kind === 'episodes' ? epText : treeText);
    var q = state.q.toLowerCase(), task = state.task.toLowerCase();
    var rmin = state.rmin === '' ? -Infinity : parseFloat(state.rmin), rmax = state.rmax === '' ? Infinity : parseFloat(state.rmax);
    var out = [];
    for (var i = 0; i < items.length; i++) {
      var it = items[i];
      if (task && it.task.toLowerCase().indexOf(task) < 0) continue;
      var r = kind === 'episodes' ? it.reward : it.value;
      if (r < rmin || r > rmax) continue;
      if (kind === 'episodes') {
        if (!verdictOk(it.verdict)) continue;
        if (state.role && !it.msgs.some(function (m) { return m.role === state.role; })) continue;
      } else {
        if (state.verdict && !it.nodes.some(function (n) { return n.verdict && verdictOk(n.verdict); })) continue;
        if (state.role && !it.nodes.some(function (n) { return n.msg && n.msg.role === state.role; })) continue;
      }
      if (q && searchText[kind][i].indexOf(q) < 0) continue;
      out.push(i);
    }
    return out;
  }

  // ---------------------------------------------------------------- rendering pieces
  function verdictBadge(v) {
    if (!v) return el('span', 'badge', 'no verdict');
    return el('span', 'badge ' + (v.correct ? 'ok' : (v.status === 'ok' ? 'bad' : 'warn')), v.correct ? 'correct' : (v.status === 'ok' ? 'wrong' : v.status));
  }
  function kv(parent, key, value) {
    var d = add(parent, el('div', 'kv'));
    add(d, el('b', null, key + ': '));
    add(d, el('span', null, value));
    return d;
  }
  function contextBlock(parent, text, label) {
    var det = add(parent, el('details', 'ctx'));
    add(det, el('summary', null, (label || 'exact context') + ' (' + text.length + ' chars)'));
    det.addEventListener('toggle', function () {  // built on first open: 10,000 contexts cost nothing until read
      if (det.open && det.childNodes.length === 1) add(det, el('pre', null, text));
    });
    if (state.open === 'all') { add(det, el('pre', null, text)); }  // shown in full (closed) for a dump of the page
    return det;
  }
  function highlighted(text) {  // the message with the search term marked (text nodes only)
    var pre = el('pre', 'content');
    var q = state.q.toLowerCase();
    if (!q) { pre.textContent = text; return pre; }
    var low = text.toLowerCase(), at = 0, i;
    while ((i = low.indexOf(q, at)) >= 0) {
      pre.appendChild(document.createTextNode(text.slice(at, i)));
      add(pre, el('mark', null, text.slice(i, i + q.length)));
      at = i + q.length;
    }
    pre.appendChild(document.createTextNode(text.slice(at)));
    return pre;
  }
  function message(parent, m) {
    var d = add(parent, el('div', 'msg role-' + (roleIndex[m.role] % 6)));
    var head = 'turn ' + m.turn + ' · ' + m.agent + ' (' + m.role + ') · stage ' + m.stage;
    if (m.replayed) head += ' · replayed prefix';
    else head += ' · ' + m.ntok + ' tokens · finish ' + (m.finish || '?');
    add(d, el('div', 'head', head));
    d.appendChild(highlighted(m.content));
    contextBlock(d, S[m.ctx]);
    return d;
  }
  function episodeBody(det, e) {
    kv(det, 'task', e.task + ' · ' + e.env + ' · episode ' + e.id + (e.seed !== null ? ' · seed ' + e.seed : ''));
    contextBlock(det, S[e.prompt], 'task prompt');
    kv(det, 'gold answer', e.answer === null ? '–' : e.answer);
    var shown = e.msgs.filter(function (m) { return !state.role || m.role === state.role; });
    if (shown.length < e.msgs.length) add(det, el('div', 'muted', (e.msgs.length - shown.length) + ' message(s) of other roles hidden by the role filter'));
    shown.forEach(function (m) { message(det, m); });
    var v = e.verdict || {};
    var vd = kv(det, 'verdict', '');
    vd.appendChild(verdictBadge(e.verdict));
    add(vd, el('span', null, 'score ' + num(v.score) + ' · status ' + v.status + ' · extracted ' + (v.extracted === null || v.extracted === undefined ? '–' : JSON.stringify(v.extracted)) + ' · ' + (v.detail || '')));
    var t = e.team || {};
    if (t.agent !== undefined) kv(det, 'team answer', 'from ' + t.agent + ' by rule ' + t.rule + (t.key !== null && t.key !== undefined ? ' · key ' + t.key : '') + (t.votes && t.votes.length ? ' · votes ' + t.votes.map(function (x) { return x[0] + '×' + x[1]; }).join(', ') : ''));
    kv(det, 'team reward', num(e.reward));
    if (e.cf) {
      var tbl = add(det, el('table')), hr = add(tbl, el('tr'));
      add(hr, el('th', null, 'agent')); add(hr, el('th', null, 'counterfactual reward (its vote removed)')); add(hr, el('th', null, 'reward − counterfactual'));
      Object.keys(e.cf).forEach(function (a) {
        var tr = add(tbl, el('tr'));
        add(tr, el('td', null, a)); add(tr, el('td', 'num', num(e.cf[a]))); add(tr, el('td', 'num', num(e.reward - e.cf[a])));
      });
    }
    if (e.ablated && e.ablated.length) kv(det, 'ablated', e.ablated.join(', '));
  }
  function episodeRow(list, e) {
    var det = add(list, el('details', 'ep'));
    det.setAttribute('data-id', e.id);
    var sum = add(det, el('summary'));
    add(sum, el('b', null, e.task));
    sum.appendChild(verdictBadge(e.verdict));
    add(sum, el('span', null, 'reward ' + num(e.reward) + ' · answer ' + ((e.verdict && e.verdict.extracted !== null) ? e.verdict.extracted : '–') + ' · ' + e.msgs.length + ' messages · '));
    add(sum, el('span', 'muted', e.id));
    var built = false;
    det.addEventListener('toggle', function () { if (det.open && !built) { built = true; episodeBody(det, e); } });
    if (state.open === 'all' || state.open === e.id) { built = true; episodeBody(det, e); det.open = true; }
  }

  function nodeHead(n) {
    var h = (n.msg ? n.msg.agent + ' (' + n.msg.role + ')' : 'root') + ' · ' + n.id + ' · value ' + num(n.value);
    if (n.msg) h += ' · LOO credit ' + num(n.loo) + ' · advantage ' + num(n.adv);
    if (n.reward !== null) h += ' · leaf reward ' + num(n.reward);
    return h;
  }
  function diffPre(n) {
    var pre = el('pre', 'content');
    if (!n.diff) { pre.textContent = n.msg.content; return pre; }
    n.diff.forEach(function (seg) { add(pre, el('span', seg[0] ? 'chg' : null, seg[1])); });
    return pre;
  }
  function treeChildren(parent, t, byId, node) {
    if (!node.children.length) return;
    var kids = node.children.map(function (c) { return byId[c]; });
    var first = kids[0].msg;
    var note = add(parent, el('div', 'muted', kids.length + ' sibling(s) of ' + (first ? first.role : '?') + ' at one context' +
      (kids.length > 1 ? (kids.every(function (k) { return k.same_ctx !== false; }) ? ' (byte-identical, checked)' : ' — CONTEXTS DIFFER') : '') +
      '; highlighted: words that differ from a sibling'));
    if (first) contextBlock(note, S[first.ctx], 'shared context');
    var row = add(parent, el('div', 'siblings'));
    kids.forEach(function (k) {
      var box = add(row, el('div', 'node'));
      box.setAttribute('data-node', k.id);
      add(box, el('div', 'head', nodeHead(k)));
      if (k.verdict) box.appendChild(verdictBadge(k.verdict));
      if (k.msg) box.appendChild(diffPre(k));
      treeChildren(box, t, byId, k);
    });
  }
  function treeBody(det, t) {
    kv(det, 'task', t.task + ' · ' + t.env + ' · fan-out ' + JSON.stringify(t.fanout) + ' · ' + t.evaluator_calls + ' evaluator calls · ' + t.generated_tokens + ' tokens');
    contextBlock(det, S[t.prompt], 'task prompt');
    kv(det, 'gold answer', t.answer === null ? '–' : t.answer);
    add(det, el('div', 'muted', D.credit_note));
    if (t.prefix.length) { add(det, el('h3', null, 'frozen prefix')); t.prefix.forEach(function (m) { message(det, m); }); }
    var byId = {}; t.nodes.forEach(function (n) { byId[n.id] = n; });
    treeChildren(det, t, byId, byId.root);
  }
  function treeRow(list, t) {
    var det = add(list, el('details', 'tree'));
    det.setAttribute('data-id', t.id);
    var sum = add(det, el('summary'));
    add(sum, el('b', null, t.task));
    add(sum, el('span', null, ' root value ' + num(t.value) + ' · ' + t.n_leaves + ' leaves · ' + t.nodes.length + ' nodes · '));
    add(sum, el('span', 'muted', t.id));
    var built = false;
    det.addEventListener('toggle', function () { if (det.open && !built) { built = true; treeBody(det, t); } });
    if (state.open === 'all' || state.open === t.id) { built = true; treeBody(det, t); det.open = true; }
  }

  // ---------------------------------------------------------------- controls and the list
  var root = document.getElementById('app');
  var controls = add(root, el('div', 'controls'));
  var tabs = add(controls, el('span', 'tabs'));
  var tabButtons = {};
  [['episodes', EP.length + ' episodes'], ['trees', TR.length + ' trees']].forEach(function (x) {
    var b = add(tabs, el('button', null, x[1])); b.type = 'button'; b.id = 'tab-' + x[0];
    b.disabled = (x[0] === 'episodes' ? EP.length : TR.length) === 0;
    b.addEventListener('click', function () { state.tab = x[0]; state.page = 0; refresh(); });
    tabButtons[x[0]] = b;
  });
  function input(id, type, placeholder, key) {
    var i = add(controls, el('input')); i.id = id; i.type = type; i.placeholder = placeholder; i.value = state[key];
    if (type === 'number') i.step = 'any';
    var timer = null;
    i.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(function () { state[key] = i.value; state.page = 0; refresh(); }, 150); });
    return i;
  }
  function select(id, options, key, label) {
    var s = add(controls, el('select')); s.id = id; s.title = label;
    options.forEach(function (o) { var op = add(s, el('option', null, o[1])); op.value = o[0]; });
    s.value = state[key];
    s.addEventListener('change', function () { state[key] = s.value; state.page = 0; refresh(); });
    return s;
  }
  readHash();
  input('q', 'search', 'search text', 'q');
  input('task', 'search', 'task id', 'task');
  select('role', [['', 'any role']].concat(D.roles.map(function (r) { return [r, r]; })), 'role', 'role');
  select('verdict', [['', 'any verdict'], ['correct', 'correct'], ['incorrect', 'incorrect'], ['ok', 'status ok'], ['no_answer', 'no_answer'], ['timeout', 'timeout'], ['error', 'error']], 'verdict', 'verdict');
  add(controls, el('span', null, 'reward'));
  input('rmin', 'number', 'min', 'rmin');
  input('rmax', 'number', 'max', 'rmax');
  var count = add(controls, el('span', 'count')); count.id = 'count';
  var list = add(root, el('div')); list.id = 'list';
  var pager = add(root, el('div', 'pager'));
  var prev = add(pager, el('button', null, '◀ previous')); prev.type = 'button'; prev.id = 'prev';
  var where = add(pager, el('span')); where.id = 'where';
  var next = add(pager, el('button', null, 'next ▶')); next.type = 'button'; next.id = 'next';
  prev.addEventListener('click', function () { state.page -= 1; refresh(); window.scrollTo(0, 0); });
  next.addEventListener('click', function () { state.page += 1; refresh(); window.scrollTo(0, 0); });

  function refresh() {
    var t0 = performance.now();
    var kind = state.tab, items = kind === 'episodes' ? EP : TR, size = PAGE[kind];
    Object.keys(tabButtons).forEach(function (k) { tabButtons[k].className = k === kind ? 'on' : ''; });
    var idx = matches(kind);
    var pages = Math.max(1, Math.ceil(idx.length / size));
    state.page = Math.min(Math.max(0, state.page), pages - 1);
    list.textContent = '';
    var shown = idx.slice(state.page * size, (state.page + 1) * size);
    shown.forEach(function (i) { (kind === 'episodes' ? episodeRow : treeRow)(list, items[i]); });
    count.textContent = idx.length + ' of ' + items.length + ' ' + kind + ' match';
    where.textContent = ' page ' + (state.page + 1) + ' of ' + pages + ' ';
    prev.disabled = state.page === 0; next.disabled = state.page >= pages - 1;
    body.setAttribute('data-matches', String(idx.length));
    body.setAttribute('data-rendered', String(shown.length));
    writeHash();
    body.setAttribute('data-refresh-ms', String(Math.round(performance.now() - t0)));  // filter + render time
  }
  refresh();
  body.setAttribute('data-init-ms', String(Math.round(performance.now())));
  body.setAttribute('data-ok', '1');
})();
