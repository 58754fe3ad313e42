import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { AlertEvent } from '../../schemas/alert.js';
import { SmtpMailer } from '../../services/adapters/smtp/mailer.js';
import { EmailNotifier } from '../../services/api/notifications/notifier.js';
import { digestItems } from '../../services/api/notifications/store.js';
import type { Bus } from '../../services/ports/bus.js';
import { Topics } from '../../services/ports/topics.js';
import { type RunningApi, startApi } from '../support/api-harness.js';
import { seedModule } from '../support/http-client.js';
import { type Deployment, distributed, standalone, testLogger, waitFor } from '../support/store-setups.js';

const adminToken = `test-admin-${randomBytes(12).toString('hex')}`;
const admin = { token: adminToken };
const publicUrl = 'https://glasshouse.example/';

interface Mail {
  to: string[];
  headers: Map<string, string>;
  body: string;
}

/**
 * A real SMTP server (smtp-server) on 127.0.0.1 that refuses the next `refuse` recipients with 451,
 * keeping each refused address in `refusedTo`.
 */
async function smtpReceiver() {
  const mails: Mail[] = [];
  const state = { refuse: 0, refused: 0, refusedTo: [] as string[] };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (state.refuse > 0) {
        state.refuse--;
        state.refused++;
        state.refusedTo.push(address.address);
        const err = Object.assign(new Error('mailbox busy, try again later'), { responseCode: 451 });
        return callback(err);
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const split = raw.indexOf('\r\n\r\n');
        const headers = new Map<string, string>();
        for (const line of raw
          .slice(0, split)
          .replace(/\r\n[ \t]+/g, ' ')
          .split('\r\n')) {
          const colon = line.indexOf(':');
          headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
        }
        mails.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          headers,
          body: raw.slice(split + 4),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    state,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A real HTTP receiver on 127.0.0.1 keeping every body it was sent. */
async function hookReceiver() {
  const bodies: unknown[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      response.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    bodies,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

// The documented shapes: Slack incoming webhooks (text, Block Kit blocks) and Teams connector MessageCards.
const PlainText = z.strictObject({
  type: z.literal('plain_text'),
  text: z.string().min(1),
  emoji: z.boolean().optional(),
});
const SlackMessage = z.strictObject({
  text: z.string().min(1),
  blocks: z
    .array(
      z.discriminatedUnion('type', [
        z.strictObject({ type: z.literal('header'), text: PlainText.refine((t) => t.text.length <= 150) }),
        z.strictObject({
          type: z.literal('section'),
          text: z.strictObject({ type: z.literal('mrkdwn'), text: z.string().min(1).max(3000) }),
        }),
        z.strictObject({
          type: z.literal('actions'),
          elements: z
            .array(z.strictObject({ type: z.literal('button'), text: PlainText, url: z.url() }))
            .min(1),
        }),
        z.strictObject({
          type: z.literal('context'),
          elements: z.array(z.strictObject({ type: z.literal('mrkdwn'), text: z.string().min(1) })).min(1),
        }),
      ]),
    )
    .max(50),
});
const TeamsMessageCard = z.strictObject({
  '@type': z.literal('MessageCard'),
  '@context': z.literal('https://schema.org/extensions'),
  summary: z.string().min(1),
  themeColor: z.string().regex(/^[0-9A-Fa-f]{6}$/),
  title: z.string().min(1),
  text: z.string(),
  sections: z.array(
    z.strictObject({ facts: z.array(z.strictObject({ name: z.string(), value: z.string() })) }),
  ),
  potentialAction: z.array(
    z.strictObject({
      '@type': z.literal('OpenUri'),
      name: z.string().min(1),
      targets: z.array(z.strictObject({ os: z.literal('default'), uri: z.url() })).min(1),
    }),
  ),
});

function alert(moduleId: string, over: Partial<AlertEvent> = {}): AlertEvent {
  const now = new Date().toISOString();
  return {
    alertId: randomBytes(16).toString('hex'),
    version: 1,
    moduleId,
    moduleVersion: 1,
    ruleId: 'processed',
    kind: 'goal_deviation',
    severity: 'critical',
    state: 'firing',
    owner: 'mail-owner',
    openedAt: now,
    updatedAt: now,
    observed: 10,
    target: 100,
    shortfall: 0.9,
    message: 'permits_processed mean 10 < 100 <b>&</b>',
    ...over,
  };
}

async function publish(bus: Bus, alerts: AlertEvent[]) {
  await bus.publish(
    Topics.alertsEvents,
    alerts.map((a) => ({ key: a.moduleId, value: JSON.stringify(a) })),
  );
}

function notificationSuite(name: string, deploy: () => Promise<Deployment>) {
  describe(`notifications for oversight (${name})`, () => {
    let deployment: Deployment;
    let bus: Bus;
    let api: RunningApi;
    let smtp: Awaited<ReturnType<typeof smtpReceiver>>;
    const moduleId = `mail-${randomBytes(3).toString('hex')}`;

    beforeAll(async () => {
      smtp = await smtpReceiver();
      deployment = await deploy();
      bus = await deployment.bus();
      api = await startApi({
        bus,
        store: deployment.store,
        adminToken,
        env: {
          GLASSHOUSE_SMTP_URL: smtp.url,
          GLASSHOUSE_MAIL_FROM: 'alerts@glasshouse.example',
          GLASSHOUSE_PUBLIC_URL: publicUrl,
          GLASSHOUSE_WEBHOOK_ATTEMPTS: '3',
          GLASSHOUSE_WEBHOOK_RETRY_MS: '50',
          GLASSHOUSE_WEBHOOK_ALLOW: '127.0.0.1/32',
        },
      });
      await seedModule(api.url, adminToken, {
        id: moduleId,
        owner: 'mail-owner',
        agency: `mail-agency-${moduleId}`,
        domain: 'permits',
        goals: [
          {
            id: 'processed',
            metric: 'permits_processed',
            unit: 'permits',
            direction: 'increase',
            target: 100,
            tolerance: 0.1,
            window: '1m',
            aggregation: 'mean',
          },
        ],
      });
    });
    afterAll(async () => {
      await api?.stop();
      await deployment?.cleanup();
      await smtp?.close();
    });

    async function subscribe(overseer: string, body: Record<string, unknown>, token = adminToken) {
      const created = await api.call('POST', `/v1/overseers/${overseer}/subscriptions`, { token, body });
      expect(created.status).toBe(201);
      return created.body.subscription as { id: string };
    }

    it('e-mails one message per alert version to matching subscribers, retried after a refusal, threaded, with a digest option', async () => {
      const desk = await api.call('POST', '/v1/overseers', {
        ...admin,
        body: { id: `desk-${moduleId}`, name: 'Desk' },
      });
      expect(desk.status).toBe(201);
      const overseerId = `desk-${moduleId}`;
      // The overseer manages its own subscriptions; another overseer or no token may not.
      const mine = await subscribe(
        overseerId,
        {
          channel: 'email',
          address: 'desk@oversight.example',
          domains: ['permits'],
          severities: ['critical'],
        },
        desk.body.token as string,
      );
      await subscribe(overseerId, {
        channel: 'email',
        address: 'other@oversight.example',
        modules: ['another-module'],
      });
      const digest = await subscribe(overseerId, {
        channel: 'email',
        address: 'digest@oversight.example',
        digest: 'daily',
      });
      expect((await api.call('POST', `/v1/overseers/${overseerId}/subscriptions`, { body: {} })).status).toBe(
        401,
      );
      const bad = await api.call('POST', `/v1/overseers/${overseerId}/subscriptions`, {
        ...admin,
        body: { channel: 'email', address: 'not an address' },
      });
      expect(bad.status).toBe(400);
      const listed = await api.call('GET', `/v1/overseers/${overseerId}/subscriptions`, admin);
      expect(listed.body.items).toHaveLength(3);

      smtp.state.refuse = 1;
      const v1 = alert(moduleId);
      const v2 = {
        ...v1,
        version: 2,
        acknowledgedBy: 'overseer:desk',
        note: 'Looking into it',
        acknowledgedAt: v1.updatedAt,
      };
      const warning = alert(moduleId, { severity: 'warning' });
      // The day the versions are published on (taken first, so a run across midnight UTC still holds).
      const today = Math.floor(Date.now() / 86_400_000) * 86_400_000;
      // v1 twice: a replayed version is not a second message.
      await publish(bus, [v1, v1, warning, v2]);
      const mails = await waitFor(async () => {
        const to = smtp.mails.filter((m) => m.to.includes('desk@oversight.example'));
        return to.length >= 2 ? to : undefined;
      }, 'two e-mails to the desk');
      expect(smtp.state.refused).toBe(1);
      const [first, second] = mails;
      expect(first!.headers.get('subject')).toBe(
        `[Glasshouse] Firing (critical): goal missed in ${moduleId}, rule processed`,
      );
      expect(first!.headers.get('from')).toBe('alerts@glasshouse.example');
      expect(first!.headers.get('to')).toBe('desk@oversight.example');
      expect(first!.headers.get('message-id')).toBe(`<${v1.alertId}.1.${mine.id}@glasshouse.invalid>`);
      expect(first!.headers.get('x-glasshouse-alert')).toBe(v1.alertId);
      expect(first!.body).toContain(`${publicUrl}#/module/${moduleId}`);
      expect(first!.body).toContain('Observed 10 against a target of 100 (shortfall 90%).');
      expect(second!.headers.get('subject')).toMatch(/^\[Glasshouse\] Firing \(critical, acknowledged\)/);
      expect(second!.headers.get('in-reply-to')).toBe(`<${v1.alertId}.1.${mine.id}@glasshouse.invalid>`);
      expect(second!.body).toContain('Looking into it');

      // The digest subscriber got nothing yet; the next day after the digest hour it gets one message.
      const tomorrow = today + 86_400_000 + 7 * 3_600_000;
      // The desk's second e-mail goes out before v2 is queued for the digest (one record, its
      // subscriptions in turn): the digest is sent once all three versions are queued.
      await waitFor(async () => {
        const queued = await digestItems(deployment.store, digest.id, today, today + 86_400_000);
        return queued.length === 3 ? true : undefined;
      }, 'three versions queued for the digest');
      const digests = new EmailNotifier({
        bus,
        store: deployment.store,
        clock: { now: () => tomorrow },
        logger: testLogger,
        metrics: new Registry(),
        mailer: new SmtpMailer(smtp.url),
        registry: { module: () => undefined },
        from: 'alerts@glasshouse.example',
        publicUrl,
        maxAttempts: 3,
        retryBaseMs: 50,
        digestHourUtc: 6,
      });
      await waitFor(async () => {
        await digests.sendDigests();
        return smtp.mails.some((m) => m.to.includes('digest@oversight.example')) ? true : undefined;
      }, 'the digest');
      await digests.sendDigests();
      const digestMails = smtp.mails.filter((m) => m.to.includes('digest@oversight.example'));
      expect(digestMails).toHaveLength(1);
      const day = new Date(tomorrow - 86_400_000).toISOString().slice(0, 10);
      expect(digestMails[0]!.headers.get('subject')).toBe(
        `[Glasshouse] Daily digest for ${day}: 3 alert versions`,
      );
      expect(digestMails[0]!.headers.get('x-glasshouse-subscription')).toBe(digest.id);
      expect(smtp.mails.filter((m) => m.to.includes('other@oversight.example'))).toHaveLength(0);
      expect(smtp.mails.filter((m) => m.to.includes('desk@oversight.example'))).toHaveLength(2);
    });

    it('keeps a message the server refused every time, and sends it once when the server takes mail again', async () => {
      const overseerId = `late-${moduleId}`;
      await subscribe(overseerId, {
        channel: 'email',
        address: 'late@oversight.example',
        modules: [moduleId],
      });
      smtp.state.refuse = 1_000;
      // The desk's subscription of the first test matches this alert too, and is tried first: count
      // this subscriber's refusals alone.
      const refusedLate = () => smtp.state.refusedTo.filter((to) => to === 'late@oversight.example').length;
      await publish(bus, [alert(moduleId)]);
      // Three attempts (GLASSHOUSE_WEBHOOK_ATTEMPTS), then recorded as failed.
      await waitFor(async () => (refusedLate() >= 3 ? true : undefined), 'three refusals');
      smtp.state.refuse = 0;
      const resender = new EmailNotifier({
        bus,
        store: deployment.store,
        clock: { now: () => Date.now() },
        logger: testLogger,
        metrics: new Registry(),
        mailer: new SmtpMailer(smtp.url),
        registry: { module: () => undefined },
        from: 'alerts@glasshouse.example',
        publicUrl,
        maxAttempts: 3,
        retryBaseMs: 50,
        digestHourUtc: 6,
      });
      await waitFor(async () => {
        await resender.resendFailed();
        return smtp.mails.some((m) => m.to.includes('late@oversight.example')) ? true : undefined;
      }, 'the message sent again');
      await resender.resendFailed();
      expect(smtp.mails.filter((m) => m.to.includes('late@oversight.example'))).toHaveLength(1);
      expect(refusedLate()).toBe(3);
    });

    it('posts Slack and Teams payloads of the documented shapes, and today’s signed JSON by default', async () => {
      const slack = await hookReceiver();
      const teams = await hookReceiver();
      const json = await hookReceiver();
      try {
        for (const [receiver, format] of [
          [slack, 'slack'],
          [teams, 'teams'],
          [json, undefined],
        ] as const) {
          const created = await api.call('POST', '/v1/webhooks', {
            ...admin,
            body: { url: receiver.url, ...(format ? { format } : {}) },
          });
          expect(created.status).toBe(201);
          expect(created.body.webhook.format).toBe(format ?? 'json');
        }
        const fired = alert(moduleId);
        await publish(bus, [fired]);
        await waitFor(
          async () => (slack.bodies.length && teams.bodies.length && json.bodies.length ? true : undefined),
          'all three receivers',
        );
        const link = `${publicUrl}#/module/${moduleId}`;
        const s = SlackMessage.parse(slack.bodies[0]);
        expect(s.text).toContain(link);
        expect(JSON.stringify(s.blocks)).toContain('&lt;b&gt;&amp;&lt;/b&gt;');
        const t = TeamsMessageCard.parse(teams.bodies[0]);
        expect(t.potentialAction[0]!.targets[0]!.uri).toBe(link);
        expect(t.themeColor).toBe('C62828');
        expect(t.sections[0]!.facts).toContainEqual({ name: 'Observed', value: '10' });
        expect(json.bodies[0]).toMatchObject({ type: 'alert', alert: { alertId: fired.alertId } });
      } finally {
        await Promise.all([slack.close(), teams.close(), json.close()]);
      }
    });
  });
}

notificationSuite('standalone: in-process bus, DuckDB', () =>
  standalone(`notify-${randomBytes(4).toString('hex')}`),
);
notificationSuite('distributed: Kafka, ClickHouse', () =>
  distributed(`notify-${randomBytes(4).toString('hex')}`),
);
