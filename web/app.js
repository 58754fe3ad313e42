// The citizen dashboard: modules by domain with verdict badges and live charts seeded from their
// history, open alerts, the scoreboard and scorecards, comparisons and the audit trail. Reads the public
// API and /v1/live; views for endpoints a server lacks say so in words instead of breaking.
import { getJson } from './api.js';
import { renderAudit } from './audit.js';
import { breakdownHtml, downloadsHtml, mountBreakdown } from './breakdown.js';
import { GoalChart } from './chart.js';
import { renderComparison, renderComparisons } from './compare.js';
import {
  ago,
  badge,
  esc,
  goalSentence,
  metricWords,
  toleranceSentence,
  verdictOf,
  when,
  withUnit,
  worstVerdict,
} from './format.js';
import { loadHistory, loadRevisions } from './history.js';
import { Live, liveUrl } from './live.js';
import { renderScoreboard, renderScorecard } from './people.js';
import { moduleChangesHtml, renderPendingChanges, tickCountdowns } from './proposals.js';

const state = {
  /** @type {Map<string, any>} module id -> module as GET /v1/modules answers it */
  modules: new Map(),
  /** @type {Map<string, any>} sociotechnician id -> profile */
  people: new Map(),
  /** `${moduleId}|${ruleKind}:${goalId}` -> latest PerformanceUpdate */
  current: new Map(),
  /** module id -> when the page last received data for it (ms) */
  receivedAt: new Map(),
  /** alert id -> latest open version */
  alerts: new Map(),
  charts: new Map(),
  /** Destroys the module page's breakdown chart (set while a module page is shown). */
  unmountBreakdown: undefined,
  registry: 'loading',
  audit: undefined,
};

const view = document.getElementById('view');
let live;

async function loadRegistry() {
  const [firing, pending] = await Promise.all([
    getJson('/v1/alerts?state=firing'),
    getJson('/v1/alerts?state=pending'),
    refreshRegistry(),
  ]);
  for (const alerts of [firing, pending])
    if (alerts.ok) for (const alert of alerts.body.items ?? []) applyAlert(alert, false);
}

/** What the registry-drawn views depend on: module ids and versions, people's names and titles. */
function registryShape() {
  return JSON.stringify([
    [...state.modules.values()].map((m) => [
      m.id,
      m.version,
      m.status,
      m.changesApproved,
      (m.pendingChanges ?? []).map((p) => [p.id, p.revision]),
    ]),
    [...state.people.values()].map((p) => [p.id, p.name, p.title]),
  ]);
}

let refreshing;
let lastRefresh = 0;

/**
 * Reloads modules and people. Modules registered after the page opened (a demo still seeding, a new
 * programme) appear without a reload; a view drawn from the registry is redrawn only when it changed.
 */
function refreshRegistry() {
  refreshing ??= (async () => {
    lastRefresh = Date.now();
    const before = registryShape();
    const [modules, people] = await Promise.all([getJson('/v1/modules'), getJson('/v1/sociotechnicians')]);
    if (people.ok) state.people = new Map((people.body.items ?? []).map((person) => [person.id, person]));
    if (modules.ok) {
      state.modules = new Map((modules.body.items ?? []).map((module) => [module.id, module]));
      for (const module of state.modules.values())
        for (const goal of module.goals ?? []) if (goal.current) applyUpdate(goal.current, false);
      state.registry = 'ok';
    } else if (state.registry === 'loading') {
      state.registry = modules.status === 404 ? 'absent' : 'error';
    }
    for (const domain of new Set([...state.modules.values()].map((m) => m.domain)))
      live?.subscribe(`domain:${domain}`);
    const changed = registryShape() !== before;
    refreshing = undefined;
    if (changed && started && registryDrawn()) route();
  })();
  return refreshing;
}

/** True on views drawn from the registry alone (the others fetch their own answers). */
function registryDrawn() {
  const hash = location.hash || '#/';
  return hash === '#/' || hash.startsWith('#/module/') || hash === '#/compare';
}

/** Refreshes the registry every 30 s, every 3 s while it holds no module yet. */
function scheduleRefresh() {
  setTimeout(
    async () => {
      await refreshRegistry();
      scheduleRefresh();
    },
    state.modules.size === 0 ? 3_000 : 30_000,
  );
}

// ---- live data ----

function ruleKey(update) {
  return `${update.moduleId}|${update.ruleKind ?? 'goal'}:${update.goalId}`;
}

function applyUpdate(update, fromLive = true) {
  if (fromLive && !state.modules.has(update.moduleId) && Date.now() - lastRefresh > 2_000) refreshRegistry();
  const key = ruleKey(update);
  const previous = state.current.get(key);
  if (previous && Date.parse(previous.asOf) > Date.parse(update.asOf)) return;
  state.current.set(key, update);
  if (fromLive) state.receivedAt.set(update.moduleId, Date.now());
  state.charts.get(key)?.push(update.asOf, update.value);
  patchGoal(update);
  patchModule(update.moduleId);
}

function applyAlert(alert, announce = true) {
  const known = state.alerts.get(alert.alertId);
  if (known && known.version >= alert.version) return;
  if (alert.state === 'resolved') state.alerts.delete(alert.alertId);
  else state.alerts.set(alert.alertId, alert);
  renderAlerts(announce ? alert.alertId : undefined);
  patchModule(alert.moduleId);
}

function onLive(channel, message) {
  if (message.type === 'snapshot') {
    const items = Array.isArray(message.data) ? message.data : [];
    if (channel.startsWith('alerts')) {
      if (message.recovered === false || channel === 'alerts') {
        // A fresh snapshot is the whole truth: alerts missing from it were resolved meanwhile.
        const open = new Set(items.map((a) => a.alertId));
        for (const id of [...state.alerts.keys()]) if (!open.has(id)) state.alerts.delete(id);
      }
      for (const alert of items) applyAlert(alert, false);
      renderAlerts();
    } else {
      for (const update of items) applyUpdate(update);
    }
    return;
  }
  if (message.type === 'update') applyUpdate(message.data);
  if (message.type === 'alert') applyAlert(message.data);
  if (message.type === 'proposal') applyProposal(message.data);
}

/** A proposal step seen live: the module's pending change is redrawn; an applied one reloads the registry. */
function applyProposal(proposal) {
  const module = state.modules.get(proposal.moduleId);
  if (!module) return;
  const open = proposal.state === 'proposed' || proposal.state === 'approved';
  module.pendingChanges = open ? [proposal] : [];
  if (proposal.state === 'applied') refreshRegistry();
  const block = document.querySelector(`#module-${CSS.escape(proposal.moduleId)} .module-changes`);
  if (block) block.outerHTML = moduleChangesHtml(module, ownerName);
  if (location.hash === '#/changes') route();
}

function onConnection(status, detail) {
  const box = document.getElementById('connection');
  box.dataset.state = status;
  const text = { connecting: 'Connecting…', live: 'Live', offline: 'Offline' }[status];
  box.querySelector('.connection-text').textContent = detail ? `${text}. ${detail}` : text;
}

// ---- module and goal rendering ----

function moduleVerdict(module) {
  const verdicts = (module.goals ?? []).map((goal) => {
    const current = state.current.get(`${module.id}|goal:${goal.id}`);
    return verdictOf(current?.status, current?.stagnating);
  });
  return verdicts.length ? worstVerdict(verdicts) : 'No data';
}

function ownerName(id) {
  return state.people.get(id)?.name ?? id;
}

function latestAsOf(moduleId) {
  let latest;
  for (const [key, update] of state.current) {
    if (!key.startsWith(`${moduleId}|`)) continue;
    if (!latest || Date.parse(update.asOf) > Date.parse(latest)) latest = update.asOf;
  }
  return latest;
}

function freshnessText(moduleId) {
  const asOf = latestAsOf(moduleId);
  if (!asOf) return 'No data received yet';
  const received = state.receivedAt.get(moduleId);
  return `Complete through ${when(asOf)}${received ? ` · updated ${ago(Date.now() - received)}` : ''}`;
}

/** Reports in the window, and why there is no verdict when there are too few. */
function countText(goal, current) {
  if (!current) return '';
  const reports = `${current.count.toLocaleString('en')} report${current.count === 1 ? '' : 's'} in window`;
  if (current.status !== 'no_data' || !(goal.minSamples > current.count)) return reports;
  return `${reports} (a verdict needs at least ${goal.minSamples})`;
}

function goalHtml(module, goal) {
  const key = `${module.id}|goal:${goal.id}`;
  const current = state.current.get(key);
  const verdict = verdictOf(current?.status, current?.stagnating);
  const baseline =
    goal.baseline === undefined ? '' : ` Baseline: ${esc(withUnit(goal.baseline, goal.unit))}.`;
  return `
    <li class="goal" data-goal="${esc(goal.id)}">
      <div class="goal-head">
        <p class="goal-sentence">${esc(goalSentence(goal))}</p>
        ${badge(verdict, 'goal-verdict')}
      </div>
      <p class="goal-figures">
        <span class="now">Now: <strong class="goal-value">${esc(withUnit(current?.value, goal.unit))}</strong></span>
        <span>Target: ${esc(withUnit(goal.target, goal.unit))}</span>
        <span class="goal-count">${esc(countText(goal, current))}</span>
      </p>
      <p class="muted small">${esc(toleranceSentence(goal))}${baseline}</p>
      <div class="chart" role="img" aria-label="Chart of ${esc(metricWords(goal.metric))} over time against the target of ${esc(withUnit(goal.target, goal.unit))}"><p class="muted small chart-empty">The chart fills in as new figures arrive.</p></div>
    </li>`;
}

function constraintHtml(module, constraint) {
  const current = state.current.get(`${module.id}|constraint:${constraint.id}`);
  const holds = current ? current.status === 'on_track' || current.status === 'at_risk' : undefined;
  const word = holds === undefined ? 'No data' : holds ? 'Holds' : 'Breached';
  const words = constraint.op === '<=' ? 'at most' : 'at least';
  return `<li class="constraint" data-constraint="${esc(constraint.id)}">Limit: ${esc(metricWords(constraint.metric))} must stay ${words} ${esc(String(constraint.bound))} <span class="constraint-state state-${word.toLowerCase().replace(' ', '-')}">${word}</span></li>`;
}

function moduleHtml(module) {
  const verdict = moduleVerdict(module);
  const alerts = [...state.alerts.values()].filter((a) => a.moduleId === module.id).length;
  return `
    <article class="module" id="module-${esc(module.id)}" data-module="${esc(module.id)}" aria-labelledby="title-${esc(module.id)}">
      <header class="module-head">
        <div>
          <h3 id="title-${esc(module.id)}"><a class="module-link" href="#/module/${esc(module.id)}">${esc(module.title)}</a> ${module.demo ? '<span class="tag tag-demo" title="Seeded demonstration data, not a real programme">Demo data</span>' : ''}</h3>
          <p class="owner">Responsible: <a class="owner-link" href="#/people/${esc(module.owner)}"><strong class="owner-name">${esc(ownerName(module.owner))}</strong></a>${state.people.get(module.owner)?.title ? `, ${esc(state.people.get(module.owner).title)}` : ''}</p>
        </div>
        <div class="module-status">
          ${badge(verdict, 'module-verdict')}
          <span class="module-alerts ${alerts ? '' : 'hidden'}">${alerts} open alert${alerts === 1 ? '' : 's'}</span>
        </div>
      </header>
      ${module.summary ? `<p class="summary">${esc(module.summary)}</p>` : ''}
      ${moduleChangesHtml(module, ownerName)}
      <ul class="goals" aria-label="Goals">${(module.goals ?? []).map((g) => goalHtml(module, g)).join('')}</ul>
      ${(module.constraints ?? []).length ? `<ul class="constraints" aria-label="Limits">${module.constraints.map((c) => constraintHtml(module, c)).join('')}</ul>` : ''}
      <p class="module-foot small">
        <span class="freshness muted">${esc(freshnessText(module.id))}</span>
        ${module.comparisonGroup ? `<a href="#/compare/${esc(module.comparisonGroup)}">Compare with the alternatives</a>` : ''}
        <a class="open-data-link" href="#/module/${esc(module.id)}">Open data</a>
        <a href="/v1/modules/${esc(module.id)}/csv-template" download>CSV template for agencies</a>
        <a href="/reporting.html#csv">How agencies report</a>
      </p>
    </article>`;
}

function mountCharts(module) {
  const card = document.getElementById(`module-${module.id}`);
  if (!card) return;
  for (const goal of module.goals ?? []) {
    const key = `${module.id}|goal:${goal.id}`;
    const container = card.querySelector(`[data-goal="${CSS.escape(goal.id)}"] .chart`);
    const chart = new GoalChart(container, {
      target: goal.target,
      unit: goal.unit,
      label: metricWords(goal.metric),
    });
    state.charts.set(key, chart);
    const current = state.current.get(key);
    if (current) chart.push(current.asOf, current.value);
    loadHistory(module.id, goal).then((points) => {
      if (points && state.charts.get(key) === chart) chart.seed(points);
    });
  }
}

function patchGoal(update) {
  const module = state.modules.get(update.moduleId);
  const card = document.getElementById(`module-${update.moduleId}`);
  if (!module || !card) return;
  if ((update.ruleKind ?? 'goal') === 'constraint') {
    const constraint = (module.constraints ?? []).find((c) => c.id === update.goalId);
    const item = card.querySelector(`[data-constraint="${CSS.escape(update.goalId)}"]`);
    if (constraint && item) item.outerHTML = constraintHtml(module, constraint);
    return;
  }
  const goal = (module.goals ?? []).find((g) => g.id === update.goalId);
  const item = card.querySelector(`[data-goal="${CSS.escape(update.goalId)}"]`);
  if (!goal || !item) return;
  item.querySelector('.goal-verdict').outerHTML = badge(
    verdictOf(update.status, update.stagnating),
    'goal-verdict',
  );
  item.querySelector('.goal-value').textContent = withUnit(update.value, goal.unit);
  item.querySelector('.goal-count').textContent = countText(goal, update);
}

function patchModule(moduleId) {
  const module = state.modules.get(moduleId);
  if (!module) return;
  // The comparison view shows each alternative's verdict live too.
  const alternative = view.querySelector(`.alt[data-module="${CSS.escape(moduleId)}"] .alt-verdict`);
  if (alternative) alternative.outerHTML = badge(moduleVerdict(module), 'alt-verdict');
  const card = document.getElementById(`module-${moduleId}`);
  if (!card) return;
  card.querySelector('.module-verdict').outerHTML = badge(moduleVerdict(module), 'module-verdict');
  const alerts = [...state.alerts.values()].filter((a) => a.moduleId === moduleId).length;
  const counter = card.querySelector('.module-alerts');
  counter.textContent = `${alerts} open alert${alerts === 1 ? '' : 's'}`;
  counter.classList.toggle('hidden', alerts === 0);
  card.querySelector('.freshness').textContent = freshnessText(moduleId);
  patchSummary();
}

function verdictCounts() {
  const counts = { Success: 0, 'At risk': 0, Failure: 0, Stagnation: 0, 'No data': 0 };
  for (const module of state.modules.values())
    if (module.status !== 'retired') counts[moduleVerdict(module)] += 1;
  return counts;
}

function patchSummary() {
  for (const [verdict, n] of Object.entries(verdictCounts())) {
    const el = document.querySelector(`[data-count-for="${verdict}"]`);
    if (el) el.textContent = String(n);
  }
}

// ---- views ----

function clearCharts() {
  for (const chart of state.charts.values()) chart.destroy();
  state.charts.clear();
  state.unmountBreakdown?.();
  state.unmountBreakdown = undefined;
}

function demoBanner(modules) {
  if (!modules.some((m) => m.demo)) return '';
  return '<p class="demo-banner" role="note"><strong>Demo data.</strong> The modules, people and figures marked “Demo data” are fictional, generated by the Glasshouse demo to show how the site works.</p>';
}

/** `#/module/:id`: one module, its goals with their history and live charts. */
function renderModule(id) {
  const module = state.modules.get(id);
  if (!module) {
    view.innerHTML = `<section><div class="notice" role="note">${esc(
      state.registry === 'ok'
        ? `There is no module “${id}”.`
        : 'The module registry is not available on this server right now.',
    )}</div><p><a href="#/">All modules</a></p></section>`;
    return;
  }
  view.innerHTML = `<p class="small"><a href="#/">← All modules</a> · ${esc(module.domain.replace(/[-_]/g, ' '))}</p>${demoBanner([module])}${moduleHtml(module)}<section class="revisions" aria-labelledby="revisions-title"><h3 id="revisions-title">Revisions</h3><p class="muted small">Loading the corrections agencies made to their figures…</p></section><div class="module-data" data-module-data="${esc(module.id)}">${breakdownHtml(module)}${downloadsHtml(module)}</div>`;
  mountCharts(module);
  state.unmountBreakdown = mountBreakdown(view.querySelector('.module-data'), module);
  loadRevisions(id).then((items) => {
    const section = view.querySelector('.revisions');
    if (section) section.innerHTML = revisionsHtml(items);
  });
}

/** The module's corrections in words: who restated which figure, when, from what to what, and why. */
function revisionsHtml(items) {
  const title = '<h3 id="revisions-title">Revisions</h3>';
  if (!items) return `${title}<p class="muted small">The list of corrections is not available right now.</p>`;
  if (items.length === 0)
    return `${title}<p class="muted small">No agency has corrected a figure of this module.</p>`;
  const row = (r) => {
    const when = new Date(r.at).toLocaleString('en-GB');
    const from = r.old ? `${r.old.value}` : 'an unknown figure';
    const change = r.retract ? `withdrew ${from}` : `restated ${from} as ${r.new?.value}`;
    const note = r.note ? ` — “${esc(r.note)}”` : '';
    return `<li class="revision" data-event="${esc(r.eventId)}"><strong>${esc(r.agency)}</strong> ${esc(change)} (${esc(metricWords(r.metric))}, report ${esc(r.supersedes)}) on ${esc(when)}${note}</li>`;
  };
  return `${title}<p class="muted small">Charts mark restated points with “r”; hover one for the first published and the current figure.</p><ul class="revision-list">${items.map(row).join('')}</ul>`;
}

function renderModules() {
  if (state.registry === 'loading') {
    view.innerHTML = '<p class="muted">Loading modules…</p>';
    return;
  }
  if (state.modules.size === 0) {
    const why =
      state.registry === 'ok'
        ? 'No policy modules are registered yet.'
        : 'The module registry is not available on this server right now. Live alerts still appear on this page.';
    view.innerHTML = `<div class="notice" role="note">${esc(why)}</div>`;
    return;
  }
  const domains = new Map();
  for (const module of state.modules.values()) {
    if (module.status === 'retired') continue;
    if (!domains.has(module.domain)) domains.set(module.domain, []);
    domains.get(module.domain).push(module);
  }
  const counts = verdictCounts();
  view.innerHTML = `
    <h2 class="visually-hidden">Modules</h2>
    ${demoBanner([...state.modules.values()])}
    <p class="page-freshness small muted" id="page-freshness">${esc(pageFreshness())}</p>
    <ul class="summary-strip" aria-label="Modules by verdict">
      ${Object.entries(counts)
        .map(
          ([verdict, n]) =>
            `<li>${badge(verdict)} <span class="summary-count" data-count-for="${esc(verdict)}">${n}</span></li>`,
        )
        .join('')}
    </ul>
    ${[...domains.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(
        ([domain, modules]) => `
      <section class="domain" aria-labelledby="domain-${esc(domain)}">
        <h2 id="domain-${esc(domain)}" class="domain-title">${esc(domain.replace(/[-_]/g, ' '))}</h2>
        ${modules.map(moduleHtml).join('')}
      </section>`,
      )
      .join('')}`;
  for (const module of state.modules.values()) mountCharts(module);
}

const kindWords = {
  goal_deviation: 'Goal missed',
  constraint_violation: 'Limit breached',
  stagnation: 'No progress',
  data_gap: 'Stopped reporting',
  anomaly: 'Unusual figures',
};

function renderAlerts(newId) {
  const list = document.getElementById('alerts');
  const alerts = [...state.alerts.values()].sort((a, b) => Date.parse(b.updatedAt) - Date.parse(a.updatedAt));
  document.getElementById('alert-count').textContent = String(alerts.length);
  if (alerts.length === 0) {
    list.innerHTML = '<li class="alert-empty muted">No open alerts.</li>';
    return;
  }
  list.innerHTML = alerts
    .map((alert) => {
      const module = state.modules.get(alert.moduleId);
      const ack = alert.acknowledgedBy
        ? `<p class="ack small">Acknowledged by ${esc(alert.acknowledgedBy)}${alert.acknowledgedAt ? ` at ${esc(when(alert.acknowledgedAt))}` : ''}: “${esc(alert.note ?? '')}”</p>`
        : '<p class="ack small muted">Not yet acknowledged by oversight.</p>';
      return `<li class="alert alert-${esc(alert.severity)} ${alert.alertId === newId ? 'alert-new' : ''}" data-alert="${esc(alert.alertId)}">
        <p class="alert-head"><span class="severity">${alert.severity === 'critical' ? 'Critical' : 'Warning'}</span> <span>${esc(kindWords[alert.kind] ?? alert.kind)}</span></p>
        <p class="alert-module"><a href="#/module/${esc(alert.moduleId)}">${esc(module?.title ?? alert.moduleId)}</a> · ${esc(ownerName(alert.owner))}</p>
        <p class="alert-message">${esc(alert.message)}</p>
        <p class="small muted">${alert.state === 'pending' ? 'Being confirmed' : 'Open'} since ${esc(when(alert.openedAt))}</p>
        ${ack}
      </li>`;
    })
    .join('');
}

/** When the page last heard anything live, and how current the newest figure is. */
function pageFreshness() {
  let newest;
  for (const update of state.current.values())
    if (!newest || Date.parse(update.asOf) > Date.parse(newest)) newest = update.asOf;
  const received = Math.max(0, ...state.receivedAt.values());
  if (!newest) return 'Data freshness: no figures received yet.';
  return `Data freshness: newest figure observed ${when(newest)}${received ? `, received ${ago(Date.now() - received)}` : ''}.`;
}

// ---- routing ----

let routeToken = 0;
/** Set once the first view is drawn; registry refreshes before that draw nothing. */
let started = false;

function viewContext() {
  const token = routeToken;
  return {
    isCurrent: () => token === routeToken,
    ownerName,
    modules: state.modules,
    moduleVerdict: (id) => {
      const module = state.modules.get(id);
      return module ? moduleVerdict(module) : 'No data';
    },
    goalVerdicts: (id) => {
      const counts = {};
      for (const goal of state.modules.get(id)?.goals ?? []) {
        const current = state.current.get(`${id}|goal:${goal.id}`);
        const verdict = verdictOf(current?.status, current?.stagnating);
        counts[verdict] = (counts[verdict] ?? 0) + 1;
      }
      return counts;
    },
    goalVerdict: (moduleId, goalId) => {
      const current = state.current.get(`${moduleId}|goal:${goalId}`);
      return current ? verdictOf(current.status, current.stagnating) : undefined;
    },
  };
}

const sections = [
  ['#/scoreboard', '#/scoreboard'],
  ['#/people/', '#/scoreboard'],
  ['#/compare', '#/compare'],
  ['#/audit', '#/audit'],
  ['#/changes', '#/changes'],
  ['#/', '#/'],
];

function route() {
  routeToken += 1;
  clearCharts();
  const hash = location.hash || '#/';
  const section = sections.find(([prefix]) => hash.startsWith(prefix))?.[1] ?? '#/';
  for (const link of document.querySelectorAll('.nav a')) {
    if (link.getAttribute('href') === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const rest = (prefix) => decodeURIComponent(hash.slice(prefix.length));
  const ctx = viewContext();
  if (hash === '#/scoreboard') renderScoreboard(view, ctx);
  else if (hash.startsWith('#/people/')) renderScorecard(view, ctx, rest('#/people/'));
  else if (hash === '#/compare') renderComparisons(view, ctx);
  else if (hash.startsWith('#/compare/')) renderComparison(view, ctx, rest('#/compare/'));
  else if (hash === '#/audit') renderAudit(view, ctx);
  else if (hash === '#/changes') renderPendingChanges(view, ctx);
  else if (hash.startsWith('#/module/')) renderModule(rest('#/module/'));
  else renderModules();
  document.body.dataset.view = hash.startsWith('#/module/') ? 'module' : section.slice(2) || 'modules';
}

/** After a click on an in-page link, move focus to the new view so keyboard and screen-reader users land there. */
function focusView() {
  const main = document.getElementById('main');
  main.focus({ preventScroll: true });
  window.scrollTo({ top: 0 });
}

async function main() {
  renderAlerts();
  live = new Live(liveUrl(), onLive, onConnection);
  live.subscribe('alerts');
  live.connect();
  await loadRegistry();
  started = true;
  route();
  renderAlerts();
  scheduleRefresh();
  window.addEventListener('hashchange', () => {
    route();
    focusView();
  });
  setInterval(() => {
    for (const moduleId of state.modules.keys()) {
      const el = document.querySelector(`#module-${CSS.escape(moduleId)} .freshness`);
      if (el) el.textContent = freshnessText(moduleId);
    }
    const page = document.getElementById('page-freshness');
    if (page) page.textContent = pageFreshness();
    tickCountdowns();
  }, 1_000);
}

main();
