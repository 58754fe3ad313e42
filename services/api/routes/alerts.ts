import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AlertState } from '../../../schemas/alert.js';
import { Slug } from '../../../schemas/common.js';
import type { Condition } from '../../ports/store.js';
import { latestOf, versionsOf } from '../alerts-query.js';
import { IntParam, queryLimits } from '../bounds.js';
import { type ApiDeps, parseOr400 } from '../deps.js';

/** Cursor: `<openedMs>.<alertId>` of the last alert of the previous page. */
const Cursor = z
  .string()
  .regex(/^\d{1,16}\.[a-f0-9]{32}$/, 'must be the "next" value of a previous page')
  .transform((text) => {
    const [ms, id] = text.split('.') as [string, string];
    return { openedMs: Number(ms), alertId: id };
  });

const AlertsQuery = z.strictObject({
  state: z.union([AlertState, z.literal('open')]).optional(),
  moduleId: Slug.optional(),
  limit: IntParam(1, queryLimits.alertsPage).optional(),
  after: Cursor.optional(),
});

/** Alerts considered per page before giving up on filling it (the answer then carries `next`). */
const scanPerPage = 5_000;

/**
 * `GET /v1/alerts?state=&moduleId=&limit=&after=`: the latest version of each alert, newest opened
 * first (ties by alert id, descending). `state=open` means any state but resolved.
 */
export function alertRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/v1/alerts', async (request) => {
    const query = parseOr400(AlertsQuery, request.query, 'the query');
    const limit = query.limit ?? 100;
    const items = [];
    let cursor = query.after;
    let scanned = 0;
    let exhausted = false;
    while (items.length < limit && scanned < scanPerPage) {
      // Version 1 rows list each alert once, by the time it opened.
      const where: Condition[] = [{ column: 'version', op: '=', value: 1 }];
      if (query.moduleId) where.push({ column: 'module_id', op: '=', value: query.moduleId });
      if (cursor) where.push({ column: 'opened_ms', op: '<=', value: cursor.openedMs });
      const batch = limit + 1;
      const firsts = (
        await deps.store.select('alerts', {
          where,
          orderBy: [
            { column: 'opened_ms', direction: 'desc' },
            { column: 'alert_id', direction: 'desc' },
          ],
          limit: batch + (cursor ? 1000 : 0),
        })
      ).filter(
        (row) =>
          !cursor ||
          row.opened_ms < cursor.openedMs ||
          (row.opened_ms === cursor.openedMs && row.alert_id < cursor.alertId),
      );
      const page = firsts.slice(0, batch);
      if (page.length === 0) {
        exhausted = true;
        break;
      }
      const latest = new Map(
        latestOf(
          await versionsOf(
            deps.store,
            page.map((r) => r.alert_id),
          ),
        ).map((a) => [a.alertId, a]),
      );
      for (const row of page) {
        scanned += 1;
        cursor = { openedMs: row.opened_ms, alertId: row.alert_id };
        const alert = latest.get(row.alert_id);
        const keep =
          alert &&
          (query.state === undefined ||
            (query.state === 'open' ? alert.state !== 'resolved' : alert.state === query.state));
        if (keep) items.push(alert);
        if (items.length === limit) break;
      }
      if (page.length < batch && items.length < limit) {
        exhausted = true;
        break;
      }
    }
    return exhausted || !cursor ? { items } : { items, next: `${cursor.openedMs}.${cursor.alertId}` };
  });
}
