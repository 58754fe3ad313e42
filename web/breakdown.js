// A module's open data on its page: the protected breakdown of a goal by a declared dimension (a bar
// chart per closed day, uPlot, with the published table beside it), and the "Download the data" panel.
// Suppressed and withheld figures are shown as such, never as zero.
import uPlot from '/vendor/uPlot.esm.js';
import { getJson, unavailable } from './api.js';
import { esc } from './format.js';

const dayMs = 86_400_000;
/** Closed days a breakdown shows. */
const breakdownDays = 14;
/** The raw reports linked from the panel: the last days of them (the API takes at most 31 days). */
const exportDays = 7;

/** The dimensions a module publishes breakdowns of (`open` and `aggregate`). */
function breakdownDimensions(module) {
  return (module.dimensions ?? []).filter((d) => d.publish === 'open' || d.publish === 'aggregate');
}

/** The breakdown section of a module card, or '' when it declares no dimension to break down by. */
export function breakdownHtml(module) {
  const dims = breakdownDimensions(module);
  const goals = module.goals ?? [];
  if (dims.length === 0 || goals.length === 0) return '';
  const options = (items, label) =>
    items.map((item) => `<option value="${esc(item.id ?? item.name)}">${esc(label(item))}</option>`).join('');
  return `
    <section class="breakdown" aria-label="Breakdown">
      <h4>Breakdown by day</h4>
      <p class="breakdown-controls small">
        <label>Goal <select class="breakdown-goal">${options(goals, (g) => g.id)}</select></label>
        <label>by <select class="breakdown-by">${options(dims, (d) => d.name)}</select></label>
      </p>
      <div class="breakdown-chart" role="img" aria-label="Reports per value and day"></div>
      <div class="breakdown-table-wrap"></div>
      <details class="breakdown-method small"><summary>How small groups are protected</summary><p class="method-text"></p></details>
    </section>`;
}

/** The "Download the data" panel of a module card. */
export function downloadsHtml(module, now = Date.now()) {
  const id = encodeURIComponent(module.id);
  const to = Math.floor(now / 1000) * 1000;
  const range = `from=${new Date(to - exportDays * dayMs).toISOString()}&to=${new Date(to).toISOString()}`;
  return `
    <section class="downloads" aria-label="Download the data">
      <h4>Download the data</h4>
      <ul class="small">
        <li><a class="download-package" href="/v1/open-data/${id}.zip" download>Data package</a> (zip: reports, daily figures per goal, alert versions and the module's history, as CSV and Parquet, described by datapackage.json)</li>
        <li>Reports of the last ${exportDays} days: <a class="download-csv" href="/v1/modules/${id}/events?${range}&format=csv">CSV</a> · <a class="download-ndjson" href="/v1/modules/${id}/events?${range}">NDJSON</a></li>
        <li><a href="/v1/open-data/catalog.jsonld">Catalogue of every module's data</a> (DCAT)</li>
      </ul>
    </section>`;
}

/** Fetches and draws the breakdown for the card's selected goal and dimension; redraws on change. */
export function mountBreakdown(card, module) {
  const section = card.querySelector('.breakdown');
  if (!section) return () => {};
  let plot;
  const draw = async () => {
    const goal = section.querySelector('.breakdown-goal').value;
    const by = section.querySelector('.breakdown-by').value;
    const to = Math.floor(Date.now() / dayMs) * dayMs;
    const from = to - breakdownDays * dayMs;
    const path = `/v1/modules/${encodeURIComponent(module.id)}/breakdown?goal=${encodeURIComponent(goal)}&by=${encodeURIComponent(by)}&from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`;
    const result = await getJson(path);
    plot?.destroy();
    plot = undefined;
    const chart = section.querySelector('.breakdown-chart');
    const table = section.querySelector('.breakdown-table-wrap');
    chart.innerHTML = '';
    if (!result.ok) {
      table.innerHTML = `<p class="notice" role="note">${esc(unavailable(result, 'The breakdown'))}</p>`;
      return;
    }
    const answer = result.body;
    section.querySelector('.method-text').textContent = answer.method;
    table.innerHTML = breakdownTableHtml(answer);
    section.dataset.days = String(answer.days.length);
    if (answer.days.some((d) => !d.withheld)) plot = drawBars(chart, answer);
  };
  section.addEventListener('change', () => void draw());
  void draw();
  return () => plot?.destroy();
}

/** Every value named on some shown day, in first-seen order. */
function valuesOf(answer) {
  const values = [];
  for (const day of answer.days)
    for (const cell of day.cells) if (!values.includes(cell.value)) values.push(cell.value);
  return values;
}

function valueLabel(value) {
  return value === '' ? '(none given)' : value;
}

/** The published table: one row per day, one column per value; suppressed and withheld in words. */
export function breakdownTableHtml(answer) {
  if (answer.days.length === 0)
    return `<p class="muted small breakdown-empty">No closed day with reports in the last ${breakdownDays} days.</p>`;
  const values = valuesOf(answer);
  const stat = answer.statistic ? ` · ${answer.statistic}` : '';
  const cellHtml = (day, value) => {
    if (day.withheld) return '<td class="withheld">withheld</td>';
    const cell = day.cells.find((c) => c.value === value);
    if (!cell) return '<td class="muted">—</td>';
    if (cell.count === null)
      return '<td class="suppressed" title="Suppressed: too few reports to publish without singling someone out">suppressed</td>';
    const statistic =
      cell.statistic === null
        ? ''
        : ` <span class="muted">(${esc(formatNumber(cell.statistic))}${esc(answer.unit)})</span>`;
    return `<td class="cell-count">${cell.count}${statistic}</td>`;
  };
  return `
    <table class="breakdown-table">
      <caption class="small">Reports per ${esc(answer.dimension)}${esc(stat)} · counts rounded to ${answer.base}, below ${answer.minCell} suppressed</caption>
      <thead><tr><th scope="col">Day (UTC)</th>${values.map((v) => `<th scope="col">${esc(valueLabel(v))}</th>`).join('')}<th scope="col">Total</th></tr></thead>
      <tbody>${answer.days
        .map(
          (day) =>
            `<tr data-day="${esc(day.day)}"><th scope="row">${esc(day.day)}</th>${values.map((v) => cellHtml(day, v)).join('')}<td class="cell-total">${day.withheld ? 'withheld' : day.total}</td></tr>`,
        )
        .join('')}</tbody>
    </table>`;
}

function formatNumber(n) {
  return Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(1).replace(/\.0$/, '');
}

const palette = ['#1f6feb', '#d97706', '#059669', '#b91c1c', '#7c3aed', '#0e7490', '#a16207', '#be185d'];

/**
 * Grouped bars with uPlot's bars path: the x axis is a sequence of slots, each day a group of one
 * slot per value and a gap; each value's series has its count in its own slot of every day and
 * nothing elsewhere, so bars never overlap. Suppressed cells and withheld days draw no bar.
 */
function drawBars(container, answer) {
  const values = valuesOf(answer);
  const slots = values.length + 1;
  const xs = [];
  for (let d = 0; d < answer.days.length; d++) for (let v = 0; v < slots; v++) xs.push(d * slots + v);
  const series = values.map((value, v) =>
    xs.map((x) => {
      if (x % slots !== v) return null;
      const day = answer.days[Math.floor(x / slots)];
      return day.withheld ? null : (day.cells.find((c) => c.value === value)?.count ?? null);
    }),
  );
  const centre = (d) => d * slots + (values.length - 1) / 2;
  return new uPlot(
    {
      width: Math.max(280, container.clientWidth || 600),
      height: 200,
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: false, range: () => [-1, answer.days.length * slots - 1] },
        y: { range: (_u, _min, max) => [0, Math.max(5, max ?? 5)] },
      },
      axes: [
        {
          splits: () => answer.days.map((_, d) => centre(d)),
          values: (_u, splits) =>
            splits.map(
              (x) => answer.days[Math.round((x - (values.length - 1) / 2) / slots)]?.day.slice(5) ?? '',
            ),
        },
        { label: 'reports' },
      ],
      series: [
        {
          label: 'day',
          value: (_u, x) => (x === null ? '' : (answer.days[Math.floor(x / slots)]?.day ?? '')),
        },
        ...values.map((value, i) => ({
          label: valueLabel(value),
          stroke: palette[i % palette.length],
          fill: `${palette[i % palette.length]}aa`,
          paths: uPlot.paths.bars({ size: [0.9, 48] }),
          points: { show: false },
        })),
      ],
    },
    [xs, ...series],
    container,
  );
}
