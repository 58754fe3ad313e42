import { z } from 'zod';
import { Severity } from './alert.js';
import { Slug, Timestamp } from './common.js';

/**
 * `POST /v1/overseers/:id/subscriptions` body: e-mail an overseer the alert versions that pass every
 * filter given (no filter: all), one message per version, or once a day as a digest.
 */
export const SubscriptionCreate = z.strictObject({
  channel: z.literal('email'),
  address: z.email({ error: 'must be an e-mail address' }).max(254),
  domains: z.array(Slug).min(1).max(50).optional(),
  modules: z.array(Slug).min(1).max(200).optional(),
  severities: z.array(Severity).min(1).max(Severity.options.length).optional(),
  /** `none` (default): a message per alert version; `daily`: one digest a day of the day before's versions. */
  digest: z.enum(['none', 'daily']).default('none'),
});
export type SubscriptionCreate = z.infer<typeof SubscriptionCreate>;

/** A subscription as stored and shown (to an admin or its overseer). */
export const Subscription = z.strictObject({
  id: z.string(),
  overseerId: Slug,
  channel: z.literal('email'),
  address: z.string(),
  domains: z.array(Slug).optional(),
  modules: z.array(Slug).optional(),
  severities: z.array(Severity).optional(),
  digest: z.enum(['none', 'daily']),
  createdAt: Timestamp,
});
export type Subscription = z.infer<typeof Subscription>;
