// The scoreboard of sociotechnicians (GET /v1/sociotechnicians) and each one's scorecard
// (GET /v1/sociotechnicians/:id), with the formula the API states. Live verdict counts come from the page.
import { getJson, unavailable } from './api.js';
import { badge, esc, goalSentence, percent, spanWords, statusWord, trendHtml, when } from './format.js';

/**
 * @typedef {object} PeopleContext
 * @property {() => boolean} isCurrent false once the reader has moved to another view
 * @property {(id: string) => string} ownerName
 * @property {Map<string, any>} modules module id -> module
 * @property {(moduleId: string) => Record<string, number>} goalVerdicts live verdict word -> goals, per module
 * @property {(moduleId: string, goalId: string) => string} goalVerdict live verdict of one goal
 */

const verdictOrder = ['Success', 'At risk', 'Failure', 'Stagnation', 'No data'];

function methodHtml(method, period) {
  if (!method) return '';
  const span = period ? ` Period: ${esc(when(period.from))} to ${esc(when(period.to))}.` : '';
  return `<details class="method"><summary>How these numbers are calculated</summary><p class="small">${esc(method)}${span}</p></details>`;
}

/** The correction rate of the agencies reporting for these modules (absent on older servers). */
function correctionsHtml(corrections) {
  if (!corrections) return '';
  const rows = corrections.agencies ?? [];
  return `<h3>Corrections</h3>
      <p class="small muted">How often the agencies reporting for these modules restated a figure they had sent (last 30 days).</p>
      ${
        rows.length
          ? `<div class="table-wrap"><table class="scoreboard stack corrections-rate">
        <caption class="visually-hidden">Each reporting agency: events sent, corrections among them, correction rate</caption>
        <thead><tr><th scope="col">Agency</th><th scope="col">Events</th><th scope="col">Corrections</th><th scope="col">Correction rate</th></tr></thead>
        <tbody>${rows
          .map(
            (a) =>
              `<tr data-agency="${esc(a.agency)}"><th scope="row">${esc(a.agency)}</th><td class="num" data-label="Events">${esc(a.events)}</td><td class="num" data-label="Corrections">${esc(a.corrections)}</td><td class="num" data-label="Correction rate">${esc(percent(a.rate))}</td></tr>`,
          )
          .join('')}</tbody></table></div>`
          : '<p class="muted small">No events received in this period.</p>'
      }
      ${methodHtml(corrections.method, corrections.period)}`;
}

function scoreHtml(score) {
  if (score === null || score === undefined) return '<span class="score score-none">—</span>';
  return `<span class="score"><strong>${esc(score)}</strong><span class="small">/100</span></span>`;
}

function liveCounts(ctx, ownerId) {
  const counts = Object.fromEntries(verdictOrder.map((v) => [v, 0]));
  for (const module of ctx.modules.values()) {
    if (module.owner !== ownerId || module.status === 'retired') continue;
    for (const [verdict, n] of Object.entries(ctx.goalVerdicts(module.id))) counts[verdict] += n;
  }
  return counts;
}

function countsHtml(counts) {
  const shown = verdictOrder.filter((v) => counts[v] > 0);
  if (shown.length === 0) return '<span class="muted small">No goals</span>';
  return `<span class="verdict-counts">${shown.map((v) => `${badge(v, 'badge-small')}<span class="count-n">× ${counts[v]}</span>`).join(' ')}</span>`;
}

/** `#/scoreboard`: everyone responsible, their summary score, open alerts and trend. */
export async function renderScoreboard(view, ctx) {
  view.innerHTML =
    '<section aria-labelledby="scoreboard-title"><h2 id="scoreboard-title">Scoreboard</h2><p class="muted">Loading the scoreboard…</p></section>';
  const result = await getJson('/v1/sociotechnicians');
  if (!ctx.isCurrent()) return;
  const people = result.ok && Array.isArray(result.body.items) ? result.body.items : [];
  const scored = people.some((p) => 'score' in p);
  const rows = people
    .map((person) => ({ person, counts: liveCounts(ctx, person.id) }))
    .sort(
      (a, b) => (b.person.score ?? -1) - (a.person.score ?? -1) || a.person.name.localeCompare(b.person.name),
    );
  const demo = [...ctx.modules.values()].some((m) => m.demo);
  const table = `<div class="table-wrap"><table class="scoreboard stack">
      <caption class="visually-hidden">Score, open alerts, trend and the current verdict of every goal, per responsible person</caption>
      <thead><tr>
        <th scope="col">Person</th>
        ${scored ? '<th scope="col">Score <span class="muted small block">time on track</span></th><th scope="col">Open alerts</th><th scope="col">Trend</th>' : ''}
        <th scope="col">Goals now</th>
      </tr></thead>
      <tbody>${rows
        .map(
          ({ person, counts }) => `<tr data-person="${esc(person.id)}">
          <th scope="row"><a href="#/people/${esc(person.id)}">${esc(person.name)}</a><span class="muted small block">${esc(person.title ?? '')}${typeof person.modules === 'number' ? ` · ${person.modules} module${person.modules === 1 ? '' : 's'}` : ''}</span></th>
          ${
            scored
              ? `<td class="num" data-label="Score">${scoreHtml(person.score)}<span class="muted small block">${esc(percent(person.onTrackShare))} on track</span></td>
          <td class="num" data-label="Open alerts">${esc(person.openAlerts ?? 0)}</td>
          <td data-label="Trend">${trendHtml(person.trend)}</td>`
              : ''
          }
          <td data-label="Goals now">${countsHtml(counts)}</td>
        </tr>`,
        )
        .join('')}</tbody></table></div>`;
  view.innerHTML = `
    <section aria-labelledby="scoreboard-title">
      <h2 id="scoreboard-title">Scoreboard of the people responsible</h2>
      <p class="lead">Each person answers for the goals of their modules. The score is the share of time their goals were on track; everyone, including them, sees the same numbers. Select a name for the full scorecard.</p>
      ${demo ? '<p class="tag tag-demo tag-inline">Demo data: these people are fictional</p>' : ''}
      ${
        !result.ok
          ? `<div class="notice" role="note">${esc(unavailable(result, 'The scoreboard'))}</div>`
          : rows.length === 0
            ? '<div class="notice" role="note">Nobody is registered as responsible for a module yet.</div>'
            : table
      }
      ${scored ? '' : result.ok ? '<p class="muted small">Scores appear here once this server computes scorecards.</p>' : ''}
      ${methodHtml(result.ok ? result.body.method : undefined, result.ok ? result.body.period : undefined)}
    </section>`;
}

/** Sets the width of every `[data-width]` element under `root` (percent), as CSSOM, which CSP permits. */
function applyWidths(root) {
  for (const el of root.querySelectorAll('[data-width]')) el.style.width = `${Number(el.dataset.width)}%`;
}

function timeBar(timeMs) {
  const parts = [
    ['on_track', 'Success', timeMs?.on_track],
    ['at_risk', 'At risk', timeMs?.at_risk],
    ['off_track', 'Failure', timeMs?.off_track],
    ['no_data', 'No data', timeMs?.no_data],
  ];
  const total = parts.reduce((sum, [, , ms]) => sum + (ms ?? 0), 0);
  if (!total) return '<p class="muted small">No time with a known status yet.</p>';
  return `<div class="time-bar" aria-hidden="true">${parts
    .filter(([, , ms]) => ms > 0)
    .map(
      // The width is set through the DOM after rendering (applyWidths): the page's Content-Security-Policy
      // allows no inline style attributes.
      ([key, , ms]) => `<span class="time-${key}" data-width="${((ms / total) * 100).toFixed(2)}"></span>`,
    )
    .join('')}</div>
    <ul class="time-legend">${parts
      .map(
        ([key, word, ms]) =>
          `<li><span class="swatch time-${key}" aria-hidden="true"></span>${word}: ${esc(spanWords(ms ?? 0))} (${esc(percent((ms ?? 0) / total))})</li>`,
      )
      .join('')}</ul>`;
}

/** `#/people/:id`: one person's scorecard, their modules and each goal's share of time on track. */
export async function renderScorecard(view, ctx, id) {
  view.innerHTML = '<section><p class="muted">Loading the scorecard…</p></section>';
  const [profile, list] = await Promise.all([
    getJson(`/v1/sociotechnicians/${encodeURIComponent(id)}`),
    getJson('/v1/sociotechnicians'),
  ]);
  if (!ctx.isCurrent()) return;
  const person =
    (profile.ok ? profile.body : undefined) ??
    (list.ok ? (list.body.items ?? []).find((p) => p.id === id) : undefined);
  if (!person) {
    view.innerHTML = `<section><h2>Scorecard</h2><div class="notice" role="note">${esc(
      profile.status === 404
        ? `Nobody with the id “${id}” is registered.`
        : unavailable(profile, 'This scorecard'),
    )}</div><p><a href="#/scoreboard">Back to the scoreboard</a></p></section>`;
    return;
  }
  const card = person.scorecard;
  const modules = [...ctx.modules.values()].filter((m) => m.owner === id);
  const demo = modules.some((m) => m.demo);
  const goalCell = (moduleId, goalId) => {
    const module = ctx.modules.get(moduleId);
    const goal = module?.goals?.find((g) => g.id === goalId);
    return `<a href="#/module/${esc(moduleId)}">${esc(module?.title ?? moduleId)}</a><span class="muted small block">${esc(goal ? goalSentence(goal) : goalId)}</span>`;
  };
  view.innerHTML = `
    <section class="scorecard" aria-labelledby="person-title" data-person="${esc(id)}">
      <p class="small"><a href="#/scoreboard">← Scoreboard</a></p>
      <h2 id="person-title">${esc(person.name)} ${demo ? '<span class="tag tag-demo">Demo data</span>' : ''}</h2>
      ${person.title ? `<p class="owner">${esc(person.title)}</p>` : ''}
      ${person.bio ? `<p class="summary">${esc(person.bio)}</p>` : ''}
      ${
        card
          ? `<div class="facts">
        <div class="fact"><span class="fact-label">Score</span>${scoreHtml(card.score)}<span class="small muted">${esc(percent(card.onTrackShare))} of the time on track</span></div>
        <div class="fact"><span class="fact-label">Open alerts</span><strong class="fact-value">${esc(card.openAlerts)}</strong></div>
        <div class="fact"><span class="fact-label">Time to acknowledge</span><strong class="fact-value">${esc(spanWords(card.meanTimeToAcknowledgeMs))}</strong><span class="small muted">${
          card.acknowledgedAlerts
            ? `mean over ${esc(card.acknowledgedAlerts)} acknowledged alert${card.acknowledgedAlerts === 1 ? '' : 's'}`
            : 'no alert acknowledged yet'
        }</span></div>
        <div class="fact"><span class="fact-label">Trend</span><span class="fact-value">${trendHtml(card.trend?.direction, card.trend?.changePoints)}</span></div>
      </div>
      <h3>Time by verdict</h3>
      ${timeBar(card.timeMs)}
      <h3>Goals</h3>
      <div class="table-wrap"><table class="scoreboard stack">
        <caption class="visually-hidden">Each goal: its verdict now and its share of time on track</caption>
        <thead><tr><th scope="col">Goal</th><th scope="col">Now</th><th scope="col">Time on track</th></tr></thead>
        <tbody>${(card.goals ?? [])
          .map(
            (g) =>
              `<tr><th scope="row">${goalCell(g.moduleId, g.goalId)}</th><td data-label="Now">${badge(ctx.goalVerdict(g.moduleId, g.goalId) ?? statusWord(g.status), 'badge-small')}</td><td class="num" data-label="Time on track">${esc(percent(g.onTrackShare))}</td></tr>`,
          )
          .join('')}</tbody></table></div>
      ${methodHtml(card.method, card.period)}
      ${correctionsHtml(card.corrections)}`
          : `<div class="notice" role="note">${esc(profile.ok ? 'This server does not compute scorecards yet; the live verdicts of their goals are below.' : unavailable(profile, 'The scorecard'))}</div>
      <p>Goals now: ${countsHtml(liveCounts(ctx, id))}</p>`
      }
      <h3>Modules</h3>
      <ul class="plain-list">${modules
        .map(
          (m) =>
            `<li><a href="#/module/${esc(m.id)}">${esc(m.title)}</a> <span class="muted small">${esc(m.domain)}</span></li>`,
        )
        .join('')}</ul>
    </section>`;
  applyWidths(view);
}
