// Words and numbers as the public reads them. Mirrors schemas/performance.ts `verdictOf`.

/** The verdict word for a goal status and its stagnation flag. */
export function verdictOf(status, stagnating) {
  if (!status || status === 'no_data') return 'No data';
  if (status === 'on_track') return 'Success';
  if (stagnating) return 'Stagnation';
  return status === 'at_risk' ? 'At risk' : 'Failure';
}

const severity = { Failure: 4, Stagnation: 3, 'At risk': 2, 'No data': 1, Success: 0 };

/** A module's verdict: the most serious verdict among its goals. */
export function worstVerdict(verdicts) {
  return verdicts.reduce((worst, v) => (severity[v] > severity[worst] ? v : worst), 'Success');
}

/** CSS class suffix for a verdict. */
export function verdictClass(verdict) {
  return verdict.toLowerCase().replace(/\s+/g, '-');
}

const verdictIcons = { Success: '✓', 'At risk': '!', Failure: '✕', Stagnation: '→', 'No data': '?' };
export function verdictIcon(verdict) {
  return verdictIcons[verdict] ?? '';
}

const aggregationWords = {
  mean: 'average',
  sum: 'total',
  count: 'number of reports',
  min: 'lowest value',
  max: 'highest value',
  p50: 'median',
  p95: '95th percentile',
  last: 'latest value',
  rate: 'rate per second',
};

const durationWords = { ms: 'millisecond', s: 'second', m: 'minute', h: 'hour', d: 'day' };

/** "1h" -> "hour", "7d" -> "7 days". */
export function durationInWords(text) {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text ?? '');
  if (!match) return text ?? '';
  const n = Number(match[1]);
  const unit = durationWords[match[2]];
  return n === 1 ? `${unit}` : `${n} ${unit}s`;
}

/** Turns a metric slug into words: on_time_rate -> on-time rate. */
export function metricWords(metric) {
  return metric.replace(/_/g, ' ').replace(/\bon time\b/, 'on-time');
}

/** Formats a value with its unit: 91.23 % or 12.5 days. */
export function withUnit(value, unit) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
  const number = value.toLocaleString('en', { maximumFractionDigits: digits });
  if (!unit) return number;
  return unit === '%' ? `${number}%` : `${number} ${unit}`;
}

/** The goal in plain words: "Raise the average on-time rate over the last hour to at least 90%." */
export function goalSentence(goal) {
  const what = `${aggregationWords[goal.aggregation] ?? goal.aggregation} ${metricWords(goal.metric)}`;
  const window = durationInWords(goal.window);
  const target = withUnit(goal.target, goal.unit);
  const windowText = `the last ${window}`;
  if (goal.direction === 'increase') return `Raise the ${what} over ${windowText} to at least ${target}.`;
  if (goal.direction === 'decrease') return `Bring the ${what} over ${windowText} down to at most ${target}.`;
  return `Keep the ${what} over ${windowText} at ${target}.`;
}

/** How much slack the goal allows before it counts as failing, in words. */
export function toleranceSentence(goal) {
  if (goal.tolerance === 0) return 'Any shortfall counts as a failure.';
  const slack =
    goal.target === 0 ? withUnit(goal.tolerance, goal.unit) : `${Math.round(goal.tolerance * 1000) / 10}%`;
  return `Missing the target by up to ${slack} counts as "At risk"; by more, as "Failure".`;
}

/** "12 s ago", "3 min ago", "2 h ago". */
export function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} days ago`;
}

/** A short local date-time. */
export function when(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString('en-GB', {
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

/** Escapes text for HTML. */
export function esc(text) {
  return String(text ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
}

/** A verdict badge: the word always, the colour and icon only as a second cue. */
export function badge(verdict, extraClass = '') {
  return `<span class="badge badge-${verdictClass(verdict)} ${extraClass}" data-verdict="${esc(verdict)}"><span class="badge-icon" aria-hidden="true">${verdictIcon(verdict)}</span>${esc(verdict)}</span>`;
}

const durationMs = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "5m" -> 300000; undefined for anything else. */
export function parseDuration(text) {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text ?? '');
  return match ? Number(match[1]) * durationMs[match[2]] : undefined;
}

/** A span of time for people: "45 s", "3 min 20 s", "2 h 5 min", "3 days 4 h". */
export function spanWords(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} days ${h % 24} h` : `${d} days`;
}

/** A share 0..1 as a whole percentage, or "—". */
export function percent(share) {
  if (share === null || share === undefined || !Number.isFinite(share)) return '—';
  return `${Math.round(share * 100)}%`;
}

/** A p-value as people read it: "p < 0.001" or "p = 0.042". */
export function pValue(p) {
  if (p === null || p === undefined || !Number.isFinite(p)) return 'not computed';
  if (p < 0.001) return 'p < 0.001';
  return `p = ${Number(p.toPrecision(2))}`;
}

const trendText = {
  improving: 'Improving',
  steady: 'Steady',
  worsening: 'Worsening',
  unknown: 'Too early to tell',
};
const trendIcons = { improving: '↗', steady: '→', worsening: '↘', unknown: '?' };

/** A scorecard trend as a word with an icon; the change in percentage points when known. */
export function trendHtml(direction, changePoints) {
  const word = trendText[direction] ?? trendText.unknown;
  const change =
    changePoints === null || changePoints === undefined
      ? ''
      : ` <span class="muted small">(${changePoints > 0 ? '+' : ''}${changePoints} points)</span>`;
  return `<span class="trend trend-${esc(direction ?? 'unknown')}"><span aria-hidden="true">${trendIcons[direction] ?? '?'}</span> ${word}</span>${change}`;
}

/** The verdict word of a scorecard-style goal status (no stagnation flag there). */
export function statusWord(status) {
  return verdictOf(status, false);
}
