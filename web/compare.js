// Comparison views: modules of one comparisonGroup (alternative approaches to the same public question)
// side by side, with Welch's t-test per shared metric as GET /v1/comparisons/:group answers it.
import { getJson, unavailable } from './api.js';
import { badge, esc, metricWords, pValue, when, withUnit } from './format.js';

/**
 * @typedef {object} CompareContext
 * @property {() => boolean} isCurrent
 * @property {(id: string) => string} ownerName
 * @property {Map<string, any>} modules
 * @property {(moduleId: string) => string} moduleVerdict live verdict of a module
 */

function groupsOf(modules) {
  const groups = new Map();
  for (const module of modules.values()) {
    if (!module.comparisonGroup) continue;
    if (!groups.has(module.comparisonGroup)) groups.set(module.comparisonGroup, []);
    groups.get(module.comparisonGroup).push(module);
  }
  return groups;
}

function groupWords(group) {
  const text = group.replace(/[-_]/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** `#/compare`: every comparison group with its alternatives. */
export function renderComparisons(view, ctx) {
  const groups = groupsOf(ctx.modules);
  view.innerHTML = `
    <section aria-labelledby="compare-title">
      <h2 id="compare-title">Comparisons</h2>
      <p class="lead">Some modules are alternative approaches to the same public question. Here they are side by side, with a statistical test of whether one really does better.</p>
      ${
        groups.size === 0
          ? '<div class="notice" role="note">No modules are grouped for comparison yet.</div>'
          : `<ul class="group-list">${[...groups.entries()]
              .map(
                ([group, modules]) => `<li class="group-card">
            <h3><a href="#/compare/${esc(group)}">${esc(groupWords(group))}</a></h3>
            <ul class="plain-list">${modules
              .map(
                (m) =>
                  `<li>${badge(ctx.moduleVerdict(m.id), 'badge-small')} ${esc(m.title)} <span class="muted small">· ${esc(ctx.ownerName(m.owner))}</span></li>`,
              )
              .join('')}</ul>
          </li>`,
              )
              .join('')}</ul>`
      }
    </section>`;
}

function sampleRows(metric, titleOf) {
  return metric.samples
    .map(
      (s) => `<tr data-sample="${esc(s.moduleId)}">
        <th scope="row">${esc(titleOf(s.moduleId))}</th>
        <td class="num" data-label="Mean">${esc(withUnit(s.mean, metric.unit))}</td>
        <td class="num" data-label="Spread (sd)">${s.sd === null || s.sd === undefined ? '—' : esc(withUnit(s.sd, metric.unit))}</td>
        <td class="num sample-n" data-label="Sample size">${esc(s.n)}</td>
      </tr>`,
    )
    .join('');
}

function pairHtml(pair, titleOf) {
  const verdict = pair.verdict ? pair.verdict.charAt(0).toUpperCase() + pair.verdict.slice(1) : '';
  return `<li class="pair ${pair.significant ? 'pair-significant' : ''}" data-pair="${esc(pair.a)}|${esc(pair.b)}">
    <p class="pair-verdict"><strong>${esc(verdict)}.</strong></p>
    <p class="small muted">${esc(titleOf(pair.a))} vs ${esc(titleOf(pair.b))}: <span class="p-value">${esc(pValue(pair.p))}</span>${
      typeof pair.t === 'number' ? `, t = ${esc(pair.t.toFixed(2))}` : ''
    }${typeof pair.df === 'number' ? `, ${esc(pair.df.toFixed(1))} degrees of freedom` : ''}; a difference counts as significant when p is below ${esc(Number(pair.alpha.toPrecision(2)))}.</p>
  </li>`;
}

/** `#/compare/:group`: the alternatives side by side and the test's verdict per metric. */
export async function renderComparison(view, ctx, group) {
  const members = groupsOf(ctx.modules).get(group) ?? [];
  const titleOf = (id) => ctx.modules.get(id)?.title ?? id;
  const sideBySide = `<ul class="side-by-side">${members
    .map(
      (m) => `<li class="alt" data-module="${esc(m.id)}">
        <h3><a href="#/module/${esc(m.id)}">${esc(m.title)}</a> ${m.demo ? '<span class="tag tag-demo">Demo data</span>' : ''}</h3>
        <p class="owner">Responsible: <strong>${esc(ctx.ownerName(m.owner))}</strong></p>
        <p>${badge(ctx.moduleVerdict(m.id), 'alt-verdict')}</p>
        ${m.summary ? `<p class="small">${esc(m.summary)}</p>` : ''}
      </li>`,
    )
    .join('')}</ul>`;
  const head = `<p class="small"><a href="#/compare">← Comparisons</a></p>
      <h2 id="comparison-title">${esc(groupWords(group))}</h2>`;
  view.innerHTML = `<section aria-labelledby="comparison-title" data-group="${esc(group)}">${head}${sideBySide}<p class="muted">Running the comparison…</p></section>`;
  const result = await getJson(`/v1/comparisons/${encodeURIComponent(group)}`);
  if (!ctx.isCurrent()) return;
  let body;
  if (!result.ok) {
    body = `<div class="notice" role="note">${esc(unavailable(result, 'The statistical comparison'))}</div>`;
  } else {
    const answer = result.body;
    const period = answer.window
      ? `<p class="muted small">Compared over ${esc(when(answer.window.from))} to ${esc(when(answer.window.to))}.</p>`
      : '';
    body = `${period}${(answer.metrics ?? [])
      .map(
        (metric) => `<section class="metric-compare" aria-labelledby="metric-${esc(metric.metric)}">
        <h3 id="metric-${esc(metric.metric)}">${esc(metricWords(metric.metric))} <span class="muted small">(${esc(
          metric.direction === 'increase'
            ? 'higher is better'
            : metric.direction === 'decrease'
              ? 'lower is better'
              : 'closer to target is better',
        )})</span></h3>
        <div class="table-wrap"><table class="scoreboard stack">
          <caption class="visually-hidden">Sample of each alternative</caption>
          <thead><tr><th scope="col">Alternative</th><th scope="col">Mean</th><th scope="col">Spread (sd)</th><th scope="col">Sample size</th></tr></thead>
          <tbody>${sampleRows(metric, titleOf)}</tbody>
        </table></div>
        <ul class="pairs">${(metric.pairs ?? []).map((p) => pairHtml(p, titleOf)).join('')}</ul>
      </section>`,
      )
      .join('')}
      ${answer.metrics?.length ? '' : '<div class="notice" role="note">These alternatives share no goal metric to compare.</div>'}
      ${answer.method ? `<details class="method"><summary>How the comparison is done</summary><p class="small">${esc(answer.method)}</p></details>` : ''}`;
  }
  view.innerHTML = `<section aria-labelledby="comparison-title" data-group="${esc(group)}">${head}${sideBySide}${body}</section>`;
}
