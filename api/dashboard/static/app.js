// Tideway dashboard: plain browser JavaScript, no framework, no build step. It polls the API with the
// key the user typed (EventSource cannot send an Authorization header, so polling it is), and draws
// with ECharts. Everything that came from the API goes into the page as text, never as HTML.
'use strict';

(() => {
  const KEY_STORE = 'tideway.apiKey';
  const POLL_MS = 5000;
  const TASK_PAGE = 25;
  const LANES = ['high', 'normal', 'low'];
  const COLORS = { backlog: '#4f7cac', replicas: '#2e9e6a', desired: '#e08a2e', objective: '#c9453b' };
  const LANE_COLORS = { high: '#c9453b', normal: '#4f7cac', low: '#8a8f98' };

  const $ = (id) => document.getElementById(id);
  const state = {
    key: sessionStorage.getItem(KEY_STORE) ?? '',
    samples: [],
    lastSampleAt: undefined,
    data: undefined,
    charts: new Map(),
    timer: undefined,
    statusFilter: '',
    openTask: undefined,
    /** Task ID → run ID, from the lists the page has seen (for the Web UI link). */
    runIds: new Map(),
  };

  // ── small helpers ──
  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) if (c !== undefined && c !== null) e.append(typeof c === 'string' ? document.createTextNode(c) : c);
    return e;
  }
  const fmtNum = (v, digits = 0) => (v === null || v === undefined ? '–' : Number(v).toFixed(digits));
  function fmtMs(ms) {
    if (ms === null || ms === undefined) return '–';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
    if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
    return `${(ms / 3_600_000).toFixed(1)} h`;
  }
  const fmtTime = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }) : '–');
  const fmtWhen = (iso) => {
    if (!iso) return '–';
    const d = new Date(iso);
    const sameDay = d.toDateString() === new Date().toDateString();
    return sameDay ? fmtTime(iso) : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  };
  const pill = (status) => el('span', { class: `pill s-${status ?? 'unknown'}`, text: (status ?? 'unknown').replace('_', ' ') });

  class HttpError extends Error {
    constructor(status, body) {
      super(body?.error?.message ?? `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }
  async function api(path) {
    const res = await fetch(path, { headers: { authorization: `Bearer ${state.key}` } });
    const body = await res.json().catch(() => undefined);
    if (!res.ok) throw new HttpError(res.status, body);
    return body;
  }

  // ── sign-in ──
  function showLogin(message) {
    stopPolling();
    $('main').hidden = true;
    $('login').hidden = false;
    $('signout').hidden = true;
    $('tenant').hidden = true;
    $('login-error').hidden = !message;
    $('login-error').textContent = message ?? '';
    $('key').focus();
  }
  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.key = $('key').value.trim();
    sessionStorage.setItem(KEY_STORE, state.key);
    void start();
  });
  $('signout').addEventListener('click', () => {
    sessionStorage.removeItem(KEY_STORE);
    state.key = '';
    $('key').value = '';
    showLogin();
  });

  async function start() {
    if (!state.key) return showLogin();
    state.samples = [];
    state.lastSampleAt = undefined;
    try {
      await refresh();
    } catch (err) {
      if (err instanceof HttpError && err.status === 401) return showLogin('That API key was not accepted.');
      return showLogin(`The API did not answer: ${err.message}`);
    }
    $('login').hidden = true;
    $('main').hidden = false;
    $('signout').hidden = false;
    for (const c of state.charts.values()) c.resize();
    startPolling();
    void onHash();
  }

  function startPolling() {
    stopPolling();
    state.timer = setInterval(() => {
      refresh().catch((err) => {
        if (err instanceof HttpError && err.status === 401) showLogin('The API key is no longer accepted.');
        else $('updated').textContent = `update failed: ${err.message}`;
      });
    }, POLL_MS);
  }
  function stopPolling() {
    if (state.timer) clearInterval(state.timer);
    state.timer = undefined;
  }

  // ── one update ──
  async function refresh() {
    const since = state.lastSampleAt === undefined ? '' : `?since=${state.lastSampleAt}`;
    const filter = state.statusFilter ? `&status=${encodeURIComponent(state.statusFilter)}` : '';
    const [d, tasks] = await Promise.all([api(`/v1/dashboard${since}`), api(`/v1/tasks?pageSize=${TASK_PAGE}${filter}`)]);
    state.data = d;
    // The server keeps the last hour; the page appends what is new and forgets what fell out of it.
    state.samples = state.samples.concat(d.history.samples).filter((s) => s.at >= d.now - d.history.windowMs);
    if (state.samples.length > 0) state.lastSampleAt = state.samples[state.samples.length - 1].at;
    $('tenant').hidden = false;
    $('tenant').textContent = `tenant ${d.tenant}`;
    $('updated').textContent = `updated ${new Date(d.now).toLocaleTimeString()} · every ${POLL_MS / 1000} s`;
    fillStatuses(d.statuses);
    renderPools(d);
    renderLanes(d);
    renderForecast(d);
    renderRunning(d);
    renderDead(d);
    renderTasks(tasks.tasks);
    if (state.openTask) void loadTask(state.openTask, false);
  }

  // ── pools ──
  function renderPools(d) {
    const body = $('pools').querySelector('tbody');
    body.replaceChildren(
      ...d.pools.map((p) => {
        const key = `${p.group}.${p.lane}`;
        const cell = (field, text) => el('td', { class: 'num', 'data-field': field, 'data-value': JSON.stringify(p[field]) }, text);
        return el(
          'tr',
          { 'data-pool': key, class: p.overloaded ? 'overloaded' : undefined },
          el('td', {}, el('strong', { text: p.group }), ' ', el('span', { class: `lane l-${p.lane}`, text: p.lane })),
          cell('backlog', fmtNum(p.backlog)),
          cell('backlogAgeMs', fmtMs(p.backlogAgeMs)),
          cell('addRate', fmtNum(p.addRate, 1)),
          cell('dispatchRate', fmtNum(p.dispatchRate, 1)),
          cell('replicas', fmtNum(p.replicas)),
          cell('desired', fmtNum(p.desired)),
        );
      }),
    );
    const box = $('pool-charts');
    for (const p of d.pools) {
      const key = `${p.group}.${p.lane}`;
      let div = box.querySelector(`[data-chart="${CSS.escape(key)}"]`);
      if (!div) {
        div = el('div', { class: 'chart small', 'data-chart': key });
        box.append(
          el(
            'figure',
            { class: 'chart-box' },
            el('figcaption', {}, el('strong', { text: p.group }), ' ', el('span', { class: `lane l-${p.lane}`, text: p.lane })),
            div,
          ),
        );
      }
      const series = (field) => state.samples.map((s) => [s.at, s.pools[key]?.[field] ?? null]);
      draw(div, {
        legend: { top: 2, left: 'center', itemWidth: 14, textStyle: { fontSize: 11 } },
        grid: { left: 44, right: 36, top: 40, bottom: 24 },
        tooltip: { trigger: 'axis' },
        xAxis: historyAxis(d),
        yAxis: [
          {
            type: 'value',
            name: 'backlog',
            minInterval: 1,
            nameTextStyle: { fontSize: 10 },
            splitLine: { lineStyle: { color: '#eef0f3' } },
          },
          { type: 'value', name: 'replicas', minInterval: 1, nameTextStyle: { fontSize: 10 }, splitLine: { show: false } },
        ],
        series: [
          {
            name: 'backlog',
            type: 'line',
            data: series('backlog'),
            showSymbol: false,
            color: COLORS.backlog,
            areaStyle: { opacity: 0.15 },
          },
          {
            name: 'replicas',
            type: 'line',
            step: 'end',
            yAxisIndex: 1,
            data: series('replicas'),
            showSymbol: false,
            color: COLORS.replicas,
          },
          {
            name: 'desired',
            type: 'line',
            step: 'end',
            yAxisIndex: 1,
            data: series('desired'),
            showSymbol: false,
            color: COLORS.desired,
            lineStyle: { type: 'dashed' },
          },
        ],
      });
    }
  }

  // ── lanes ──
  function renderLanes(d) {
    const rates = d.admission.rates;
    const box = $('lanes');
    box.replaceChildren(
      ...LANES.map((lane) => {
        const pools = d.pools.filter((p) => p.lane === lane);
        const sum = (f) => (pools.some((p) => p[f] !== null) ? pools.reduce((a, p) => a + (p[f] ?? 0), 0) : null);
        const oldest = pools.some((p) => p.backlogAgeMs !== null) ? Math.max(...pools.map((p) => p.backlogAgeMs ?? 0)) : null;
        const rate = rates[lane];
        const admission =
          d.admission.mode === 'off'
            ? 'off'
            : rate === undefined
              ? lane === 'high'
                ? 'never paced'
                : 'not paced'
              : `${fmtNum(rate, 1)} /s`;
        const over = lane === 'high' && oldest !== null && oldest > d.highWaitObjectiveMs;
        return el(
          'div',
          { class: `lane-card l-${lane}`, 'data-lane': lane },
          el('h3', {}, el('span', { class: `lane l-${lane}`, text: lane }), ' lane'),
          el(
            'dl',
            {},
            el('dt', { text: 'admission' }),
            el('dd', { 'data-field': 'admission', text: admission }),
            el('dt', { text: 'backlog' }),
            el('dd', { 'data-field': 'backlog', text: fmtNum(sum('backlog')) }),
            el('dt', { text: lane === 'high' ? `wait (objective ${fmtMs(d.highWaitObjectiveMs)})` : 'oldest waiting' }),
            el('dd', { 'data-field': 'wait', class: over ? 'bad' : undefined, text: fmtMs(oldest) }),
            el('dt', { text: 'dispatched' }),
            el('dd', { text: `${fmtNum(sum('dispatchRate'), 1)} /s` }),
          ),
        );
      }),
    );
    const highKeys = d.pools.filter((p) => p.lane === 'high').map((p) => `${p.group}.${p.lane}`);
    const wait = state.samples.map((s) => {
      const ages = highKeys.map((k) => s.pools[k]?.backlogAgeMs).filter((v) => v !== null && v !== undefined);
      return [s.at, ages.length ? Math.max(...ages) : null];
    });
    const x = historyAxis(d);
    draw($('chart-high-wait'), {
      grid: { left: 56, right: 24, top: 30, bottom: 24 },
      tooltip: { trigger: 'axis', valueFormatter: (v) => fmtMs(v) },
      xAxis: x,
      yAxis: { type: 'value', name: 'ms', max: (v) => Math.max(v.max, d.highWaitObjectiveMs * 1.3), nameTextStyle: { fontSize: 10 } },
      series: [
        {
          name: 'wait',
          type: 'line',
          data: wait,
          showSymbol: false,
          color: LANE_COLORS.high,
          areaStyle: { opacity: 0.12 },
          markLine: {
            symbol: 'none',
            silent: true,
            lineStyle: { color: COLORS.objective, type: 'dashed' },
            label: { formatter: `objective ${fmtMs(d.highWaitObjectiveMs)}`, position: 'insideEndTop', fontSize: 11 },
            data: [{ yAxis: d.highWaitObjectiveMs }],
          },
        },
      ],
    });
    $('admission-mode').textContent = `(${d.admission.mode})`;
    draw($('chart-admission'), {
      legend: { top: 2, left: 'center', itemWidth: 14, textStyle: { fontSize: 11 } },
      grid: { left: 56, right: 24, top: 30, bottom: 24 },
      tooltip: { trigger: 'axis' },
      xAxis: x,
      yAxis: { type: 'value', name: 'starts/s', nameTextStyle: { fontSize: 10 } },
      series: LANES.map((lane) => ({
        name: lane,
        type: 'line',
        data: state.samples.map((s) => [s.at, s.admission[lane] ?? null]),
        showSymbol: false,
        color: LANE_COLORS[lane],
      })),
    });
  }

  // ── forecast ──
  function renderForecast(d) {
    const fires = d.forecast.fires;
    const byPool = new Map();
    for (const f of fires) byPool.set(f.pool, (byPool.get(f.pool) ?? []).concat([f]));
    draw($('chart-forecast'), {
      legend: { top: 2, left: 'center', itemWidth: 14, textStyle: { fontSize: 11 } },
      grid: { left: 56, right: 24, top: 36, bottom: 24 },
      tooltip: {
        trigger: 'item',
        formatter: (p) =>
          `${escapeHtml(p.data.f.scheduleId)}<br>${escapeHtml(p.data.f.taskType)} → ${escapeHtml(p.data.f.pool)}<br>` +
          `${fmtWhen(p.data.f.at)} · ${p.data.f.expectedTasks} tasks · ${p.data.f.plannedReplicas} replicas`,
      },
      xAxis: timeAxis(d.now, d.now + d.forecast.horizonMs),
      yAxis: { type: 'value', name: 'planned replicas', minInterval: 1, nameTextStyle: { fontSize: 10 } },
      series: [...byPool.entries()].map(([pool, list]) => ({
        name: pool,
        type: 'bar',
        barWidth: 10,
        barGap: '10%',
        data: list.map((f) => ({ value: [Date.parse(f.at), f.plannedReplicas], f })),
        label: { show: true, position: 'top', fontSize: 10, formatter: (p) => `${p.data.f.expectedTasks}×` },
      })),
    });
    $('forecast')
      .querySelector('tbody')
      .replaceChildren(
        ...fires
          .slice(0, 12)
          .map((f) =>
            el(
              'tr',
              { 'data-schedule': f.scheduleId },
              el('td', { text: fmtWhen(f.at) }),
              el('td', { text: f.scheduleId }),
              el('td', { text: f.taskType }),
              el('td', { text: f.pool }),
              el('td', { class: 'num', text: `${f.expectedTasks}${f.sizeSource === 'learned' ? ' (learned)' : ''}` }),
              el('td', { class: 'num', text: String(f.plannedReplicas) }),
            ),
          ),
      );
    if (fires.length === 0)
      $('forecast')
        .querySelector('tbody')
        .append(el('tr', {}, el('td', { colspan: 6, class: 'muted', text: 'No cron fires in the next 24 h.' })));
    $('forecast-error').hidden = !d.forecast.error;
    $('forecast-error').textContent = d.forecast.error ? `Schedules could not be read: ${d.forecast.error}` : '';
  }

  // ── batches and bulks ──
  function progress(done, failed, total, label) {
    const pct = (n) => (total > 0 ? `${Math.min(100, (n / total) * 100)}%` : '0%');
    return el(
      'div',
      { class: 'progress' },
      el(
        'div',
        { class: 'bar' },
        el('span', { class: 'done', style: `width:${pct(done)}` }),
        el('span', { class: 'failed', style: `width:${pct(failed)}` }),
      ),
      el('div', { class: 'muted small', text: label }),
    );
  }
  function renderRunning(d) {
    const items = [];
    for (const b of d.batches) {
      state.runIds.set(b.taskId, b.runId);
      const p = b.batch;
      items.push(
        el(
          'div',
          { class: 'running-item', 'data-batch': b.taskId },
          el(
            'div',
            {},
            el('span', { class: 'kind', text: 'batch' }),
            ' ',
            el('a', { href: `#task=${encodeURIComponent(b.taskId)}`, text: b.taskId }),
            ' ',
            el('span', { class: 'muted', text: b.type }),
          ),
          p
            ? progress(
                p.done,
                p.failed,
                p.total,
                `${p.done + p.failed} of ${p.total}${p.splitDone ? '' : '+ (still splitting)'} · done ${p.done} · failed ${p.failed} · running ${p.running}`,
              )
            : el('div', { class: 'muted small', text: 'progress not available (no control worker answered)' }),
        ),
      );
    }
    for (const b of d.bulks) {
      const settled = b.started + b.duplicate + b.failed + b.cancelled;
      items.push(
        el(
          'div',
          { class: 'running-item', 'data-bulk': b.bulkId },
          el('div', {}, el('span', { class: 'kind bulk', text: 'bulk' }), ' ', el('span', { text: b.bulkId })),
          progress(
            settled - b.failed,
            b.failed,
            b.accepted,
            `${settled} of ${b.accepted} started · pending ${b.pending} · failed ${b.failed} · chunks ${b.chunks.done}/${b.chunks.total}`,
          ),
        ),
      );
    }
    if (items.length === 0) items.push(el('p', { class: 'muted', text: 'Nothing running.' }));
    $('running').replaceChildren(...items);
  }

  function renderDead(d) {
    $('dead-count').textContent = String(d.deadLettered);
    $('dead-count').setAttribute('data-value', String(d.deadLettered));
    $('dead-link').classList.toggle('zero', d.deadLettered === 0);
  }

  // ── recent tasks ──
  function fillStatuses(statuses) {
    const sel = $('status-filter');
    if (sel.options.length > 1) return;
    for (const s of statuses) sel.append(el('option', { value: s, text: s.replace('_', ' ') }));
    sel.value = state.statusFilter;
  }
  $('status-filter').addEventListener('change', () => {
    location.hash = $('status-filter').value ? `status=${$('status-filter').value}` : '';
  });
  function renderTasks(tasks) {
    for (const t of tasks) state.runIds.set(t.taskId, t.runId);
    $('tasks')
      .querySelector('tbody')
      .replaceChildren(
        ...tasks.map((t) =>
          el(
            'tr',
            {
              'data-task-id': t.taskId,
              'data-status': t.status ?? '',
              tabindex: 0,
              onclick: () => (location.hash = `task=${encodeURIComponent(t.taskId)}`),
            },
            el('td', { class: 'mono', text: t.taskId }),
            el('td', { text: t.type ?? '–' }),
            el('td', {}, pill(t.status)),
            el('td', {}, t.lane ? el('span', { class: `lane l-${t.lane}`, text: t.lane }) : '–'),
            el('td', { text: fmtWhen(t.startTime) }),
            el('td', { text: fmtWhen(t.closeTime) }),
          ),
        ),
      );
    $('tasks-empty').hidden = tasks.length > 0;
  }

  // ── task view ──
  async function loadTask(id, fresh) {
    const view = $('task-view');
    if (fresh) {
      $('tv-title').textContent = id;
      $('tv-facts').replaceChildren(el('dd', { class: 'muted', text: 'loading…' }));
      $('tv-error').replaceChildren();
      $('tv-batch').replaceChildren();
      $('tv-logs').replaceChildren();
      $('tv-result').textContent = '';
      $('tv-webui').hidden = true;
      view.hidden = false;
    }
    const enc = encodeURIComponent(id);
    let s;
    try {
      s = await api(`/v1/tasks/${enc}`);
    } catch (err) {
      $('tv-facts').replaceChildren(el('dd', { class: 'error', text: err.status === 404 ? 'No such task (or not yours).' : err.message }));
      return;
    }
    if (state.openTask !== id) return;
    view.setAttribute('data-task-id', id);
    view.setAttribute('data-status', s.status);
    const ts = s.timestamps ?? {};
    const facts = [
      ['status', pill(s.status)],
      ['type', s.type],
      ['attempts', String(s.attempts)],
      ['lane', s.lane ?? '–'],
      ['group', s.group ?? '–'],
      ['tenant', s.tenant],
      ['submitted', fmtWhen(ts.submittedAt)],
      ['started', fmtWhen(ts.startedAt)],
      ['finished', fmtWhen(ts.finishedAt)],
    ];
    if (s.bulkId) facts.push(['bulk', s.bulkId]);
    if (s.redrives) facts.push(['redrives', String(s.redrives)]);
    $('tv-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { 'data-field': k }, v)]));
    const e = s.lastError;
    $('tv-error').replaceChildren(
      ...(e
        ? [
            el('h3', { text: 'Last error' }),
            el(
              'div',
              { class: 'last-error', 'data-field': 'lastError' },
              el('div', {}, el('strong', { text: e.type }), ' ', el('span', { class: 'muted', text: `${e.class} · attempt ${e.attempt}` })),
              el('pre', { text: e.message }),
            ),
          ]
        : []),
    );
    const b = s.batch;
    $('tv-batch').replaceChildren(
      ...(b
        ? [
            el('h3', { text: 'Batch' }),
            progress(b.done, b.failed, b.total, `done ${b.done} · failed ${b.failed} · running ${b.running} · of ${b.total}`),
          ]
        : []),
    );
    $('tv-result').textContent = s.result === undefined ? '–' : truncate(JSON.stringify(s.result, null, 2), 4000);
    const web = state.data?.webUi;
    if (web?.url) {
      // The run's own page when the list gave its run ID; otherwise the workflow ID's latest run.
      const run = state.runIds.get(id);
      const a = $('tv-webui');
      a.href = `${web.url}/namespaces/${encodeURIComponent(web.namespace)}/workflows/${enc}${run ? `/${encodeURIComponent(run)}/history` : ''}`;
      a.hidden = false;
    }
    await loadLogs(id);
  }

  async function loadLogs(id) {
    const box = $('tv-logs');
    let body;
    try {
      body = await api(`/v1/tasks/${encodeURIComponent(id)}/logs`);
    } catch (err) {
      // 404: the task has no lines yet, or this API has no logs route; either way nothing to show.
      box.replaceChildren(
        el('p', { class: 'muted', 'data-field': 'logs', text: err.status === 404 ? 'No logs.' : `Logs unavailable: ${err.message}` }),
      );
      return;
    }
    if (state.openTask !== id) return;
    // GET /v1/tasks/{id}/logs: { lines: [{ ts, level, msg, attempt, pid, … }], next, truncated }.
    const lines = body?.lines ?? [];
    if (lines.length === 0) {
      box.replaceChildren(el('p', { class: 'muted', 'data-field': 'logs', text: 'No logs.' }));
      return;
    }
    box.replaceChildren(
      ...lines.slice(-500).map((l) => {
        const at = l.ts;
        const msg = l.pid !== undefined ? `${l.msg}  (pid ${l.pid})` : l.msg;
        return el(
          'div',
          { class: `log-line lv-${l.level ?? 'info'}`, 'data-field': 'log' },
          el('span', { class: 'muted', text: at ? fmtTime(at) : '' }),
          el('span', { class: 'lv', text: String(l.level ?? '') }),
          el('span', { class: 'muted', text: l.attempt !== undefined ? `#${l.attempt}` : '' }),
          el('span', { text: msg }),
        );
      }),
    );
  }

  function closeTask() {
    state.openTask = undefined;
    $('task-view').hidden = true;
    if (location.hash.startsWith('#task='))
      history.replaceState(null, '', location.pathname + (state.statusFilter ? `#status=${state.statusFilter}` : ''));
  }
  $('tv-close').addEventListener('click', closeTask);
  $('task-view').addEventListener('click', (ev) => ev.target === $('task-view') && closeTask());
  document.addEventListener('keydown', (ev) => ev.key === 'Escape' && state.openTask && closeTask());

  // ── hash routes: #task=<id> opens a task, #status=<s> filters the list ──
  async function onHash() {
    const h = new URLSearchParams(location.hash.slice(1));
    const task = h.get('task');
    const status = h.get('status');
    if (status !== null || !task) {
      const next = status ?? '';
      if (next !== state.statusFilter) {
        state.statusFilter = next;
        $('status-filter').value = next;
        if (!$('main').hidden) await refresh().catch(() => undefined);
      }
    }
    if (task) {
      state.openTask = task;
      await loadTask(task, true);
    } else if (state.openTask) closeTask();
  }
  window.addEventListener('hashchange', () => void onHash());

  // ── charts ──
  function timeAxis(min, max) {
    return {
      type: 'time',
      min,
      max,
      // Seconds only while the span is short, where minutes alone would repeat.
      axisLabel: { fontSize: 10, hideOverlap: true, formatter: max - min < 15 * 60_000 ? '{HH}:{mm}:{ss}' : '{HH}:{mm}' },
      splitLine: { show: false },
    };
  }
  // The last hour, or less while the API has not run that long: an hour-wide axis with one minute of
  // samples would squeeze them against its right edge.
  function historyAxis(d) {
    const first = state.samples.length > 0 ? state.samples[0].at : d.now;
    return timeAxis(Math.max(d.now - d.history.windowMs, Math.min(first, d.now - 60_000)), d.now);
  }
  function draw(div, option) {
    let c = state.charts.get(div);
    if (!c) {
      c = echarts.init(div, null, { renderer: 'canvas' });
      state.charts.set(div, c);
    }
    c.setOption({ animation: false, textStyle: { fontFamily: 'inherit' }, ...option }, { notMerge: true });
  }
  window.addEventListener('resize', () => {
    for (const c of state.charts.values()) c.resize();
  });
  function truncate(s, n) {
    return s.length > n ? `${s.slice(0, n)}\n…` : s;
  }
  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  }

  void start();
})();
