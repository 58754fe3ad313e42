import { generateKeyPairSync } from 'node:crypto';
import { SmtpMailer } from '../adapters/smtp/mailer.js';
import { ed25519Signer } from '../core/audit/note.js';
import { AlertAcknowledger } from '../oversight/acknowledge.js';
import { AlertVersions, AlertVersionsReader } from '../oversight/alert-versions.js';
import type { ApiRoleContext, RoleFactory } from '../runtime/role.js';
import { StoredAuditTree } from './audit-tree.js';
import { CheckpointSigner } from './checkpoints.js';
import { ExportGate } from './export-gate.js';
import { HeldCorrections } from './held-corrections.js';
import { EmailNotifier } from './notifications/notifier.js';
import { subscriptionRoutes } from './notifications/routes.js';
import { ProposalClock } from './proposal-clock.js';
import { RetentionScheduler } from './retention.js';
import { acknowledgementRoutes } from './routes/acknowledgements.js';
import { alertRoutes } from './routes/alerts.js';
import { auditRoutes } from './routes/audit.js';
import { auditLogRoutes } from './routes/audit-log.js';
import { breakdownRoutes } from './routes/breakdown.js';
import { comparisonRoutes } from './routes/comparisons.js';
import { correctionRoutes } from './routes/corrections.js';
import { csvTemplateRoutes } from './routes/csv-template.js';
import { eventRoutes } from './routes/events.js';
import { historyRoutes } from './routes/history.js';
import { moduleRoutes } from './routes/modules.js';
import { openDataRoutes } from './routes/open-data.js';
import { peopleRoutes } from './routes/people.js';
import { proposalRoutes } from './routes/proposals.js';
import { scorecardRoutes } from './routes/scorecards.js';
import { AuditSequencer } from './sequencer.js';
import { WebhookDeliverer } from './webhooks/deliverer.js';
import { webhookRoutes } from './webhooks/routes.js';
import { WitnessPusher } from './witness-push.js';

/**
 * The api role: the registry and audit endpoints, this replica's seat in the audit sequencer
 * group (exactly one replica's sequencer is active at a time), and storage retention (README,
 * "Retention": the one role that owns store maintenance, off the processor's write path).
 */
export const apiRole: RoleFactory<ApiRoleContext> = (ctx) => {
  const deps = {
    registry: ctx.registry,
    audit: ctx.audit,
    store: ctx.store,
    clock: ctx.clock,
    exports: new ExportGate(ctx.config.exports),
    approvals: ctx.config.approvals,
    tableFiles: ctx.tableFiles,
    openData: ctx.config.openData,
  };
  const { origin } = ctx.config.auditLog;
  if (!ctx.logKey)
    ctx.logger.warn(
      'no GLASSHOUSE_LOG_KEY_FILE: audit checkpoints are signed with a key of this process only, which changes at every start',
    );
  const signer = ed25519Signer(origin, ctx.logKey ?? generateKeyPairSync('ed25519').privateKey);
  // The routes' tree and the signer's are apart: the signer reads its tree anew at each takeover.
  const tree = new StoredAuditTree(ctx.store);
  const signerTree = new StoredAuditTree(ctx.store);
  const witnesses = ctx.config.auditLog.witnesses.length
    ? ctx.lifecycle.add(
        new WitnessPusher({
          witnesses: ctx.config.auditLog.witnesses,
          store: ctx.store,
          tree: signerTree,
          logger: ctx.logger,
          metrics: ctx.metrics,
        }),
      )
    : undefined;
  const checkpoints = ctx.lifecycle.add(
    new CheckpointSigner({
      store: ctx.store,
      tree: signerTree,
      signer,
      origin,
      clock: ctx.clock,
      logger: ctx.logger,
      ...(witnesses ? { listener: witnesses } : {}),
    }),
  );
  ctx.lifecycle.add(
    new AuditSequencer({
      bus: ctx.bus,
      store: ctx.store,
      clock: ctx.clock,
      logger: ctx.logger,
      checkpoints,
      approvals: ctx.config.approvals,
    }),
  );
  ctx.lifecycle.add(
    new WebhookDeliverer({
      bus: ctx.bus,
      store: ctx.store,
      clock: ctx.clock,
      logger: ctx.logger,
      metrics: ctx.metrics,
      maxAttempts: ctx.config.webhooks.maxAttempts,
      retryBaseMs: ctx.config.webhooks.retryBaseMs,
      allow: ctx.config.webhooks.allow,
      publicUrl: ctx.config.publicUrl,
    }),
  );
  ctx.lifecycle.add(
    new RetentionScheduler({
      store: ctx.store,
      clock: ctx.clock,
      logger: ctx.logger,
      metrics: ctx.metrics,
      retentionMs: ctx.config.retentionMs,
    }),
  );
  ctx.lifecycle.add(
    new ProposalClock({ registry: ctx.registry, audit: ctx.audit, clock: ctx.clock, logger: ctx.logger }),
  );
  moduleRoutes(ctx.http.app, deps);
  proposalRoutes(ctx.http.app, deps);
  peopleRoutes(ctx.http.app, deps);
  auditRoutes(ctx.http.app, deps);
  auditLogRoutes(ctx.http.app, {
    store: ctx.store,
    tree,
    origin,
    key: signer.key,
    witnesses: ctx.config.auditLog.witnesses,
  });
  historyRoutes(ctx.http.app, deps);
  eventRoutes(ctx.http.app, deps);
  breakdownRoutes(ctx.http.app, deps);
  openDataRoutes(ctx.http.app, deps);
  csvTemplateRoutes(ctx.http.app, deps);
  alertRoutes(ctx.http.app, deps);
  comparisonRoutes(ctx.http.app, deps);
  scorecardRoutes(ctx.http.app, deps);
  // Acknowledgements wait for the processor's version on alerts.events: this replica reads it too.
  const versions = ctx.lifecycle.add(new AlertVersionsReader(ctx.bus, new AlertVersions())).versions;
  acknowledgementRoutes(ctx.http.app, {
    registry: ctx.registry,
    acknowledger: AlertAcknowledger.forRole(ctx, versions),
  });
  webhookRoutes(ctx.http.app, deps);
  correctionRoutes(ctx.http.app, {
    registry: ctx.registry,
    corrections: new HeldCorrections({
      store: ctx.store,
      bus: ctx.bus,
      audit: ctx.audit,
      clock: ctx.clock,
      commandKey: ctx.commandKey,
    }),
  });
  subscriptionRoutes(ctx.http.app, deps);
  if (ctx.config.mail.smtpUrl) {
    ctx.lifecycle.add(
      new EmailNotifier({
        bus: ctx.bus,
        store: ctx.store,
        clock: ctx.clock,
        logger: ctx.logger,
        metrics: ctx.metrics,
        mailer: new SmtpMailer(ctx.config.mail.smtpUrl),
        registry: ctx.registry,
        from: ctx.config.mail.from,
        publicUrl: ctx.config.publicUrl,
        maxAttempts: ctx.config.webhooks.maxAttempts,
        retryBaseMs: ctx.config.webhooks.retryBaseMs,
        digestHourUtc: ctx.config.mail.digestHourUtc,
      }),
    );
  }
};
