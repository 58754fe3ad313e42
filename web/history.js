// A goal's stored history (GET /v1/modules/:id/history), so a chart shows the past on load and the
// live feed extends it. Steps are one goal window long, so each point is comparable to a live value.
import { getJson } from './api.js';
import { parseDuration } from './format.js';

const minSpanMs = 10 * 60_000;
const maxSpanMs = 90 * 86_400_000;
/** Points per request: well below the endpoint's limit. */
const maxPoints = 300;

/** The query for one goal's chart: about 30 windows back, stepped by the window. */
export function historyQuery(goal, now = Date.now()) {
  const windowMs = parseDuration(goal.window) ?? 60_000;
  const span = Math.min(maxSpanMs, Math.max(minSpanMs, 30 * windowMs));
  const stepMs = Math.max(1_000, windowMs, Math.ceil(span / maxPoints / 1_000) * 1_000);
  const params = new URLSearchParams({
    goal: goal.id,
    from: new Date(now - span).toISOString(),
    to: new Date(now).toISOString(),
    step: `${Math.round(stepMs / 1_000)}s`,
  });
  return { params, stepMs };
}

/**
 * The goal's history as chart points `{ at, value, firstPublished? }`, each placed at the end of its step (when the
 * window it summarises closed, like a live `asOf`). `undefined` when the endpoint cannot answer.
 */
export async function loadHistory(moduleId, goal) {
  const { params, stepMs } = historyQuery(goal);
  const result = await getJson(`/v1/modules/${encodeURIComponent(moduleId)}/history?${params}`);
  if (!result.ok || !Array.isArray(result.body?.points)) return undefined;
  return result.body.points
    .map((point) => ({
      at: Date.parse(point.t) + stepMs,
      value: point.value,
      // Restated by a correction since first published: the chart marks it "r" with both figures.
      ...(point.revised && point.firstPublished ? { firstPublished: point.firstPublished } : {}),
    }))
    .filter(
      (point) => Number.isFinite(point.at) && typeof point.value === 'number' && point.at <= Date.now(),
    );
}

/** A module's corrections (GET /v1/modules/:id/revisions), newest first; `undefined` when unavailable. */
export async function loadRevisions(moduleId) {
  const result = await getJson(`/v1/modules/${encodeURIComponent(moduleId)}/revisions`);
  return result.ok && Array.isArray(result.body?.items) ? result.body.items : undefined;
}
