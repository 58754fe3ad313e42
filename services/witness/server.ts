import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Cosigner } from '../core/audit/checkpoint.js';
import type { NoteVerifierKey } from '../core/audit/note.js';
import { addCheckpoint } from '../core/audit/witness.js';
import type { Logger } from '../runtime/logger.js';
import type { WitnessState } from './state.js';

/** Largest request body: a checkpoint, its signatures and a proof of at most 63 hashes fit many times over. */
const maxBody = 64 * 1024;

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'x-content-type-options': 'nosniff',
  });
  res.end(JSON.stringify({ error: { code, message } }));
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req) {
    length += (chunk as Buffer).length;
    if (length > maxBody) return;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * An independent witness (C2SP tlog-witness): `POST /add-checkpoint` cosigns a checkpoint of a log
 * it watches only when it verifies the log's signature and a consistency proof from the last size it
 * cosigned. Requests are decided one at a time, and the new state is durable before the answer.
 */
export class WitnessServer {
  private server: Server | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly o: {
      host: string;
      port: number;
      logs: ReadonlyMap<string, NoteVerifierKey>;
      state: WitnessState;
      cosigner: Cosigner;
      logger: Logger;
    },
  ) {}

  async start(): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        this.o.logger.error({ err }, 'witness request failed');
        if (!res.headersSent) sendError(res, 500, 'internal', 'the witness failed; nothing was cosigned');
        else res.destroy();
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await this.queue;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/add-checkpoint')
      return sendError(res, 404, 'not_found', 'this witness serves POST /add-checkpoint');
    if (req.method !== 'POST') return sendError(res, 405, 'method_not_allowed', 'use POST');
    const body = await readBody(req);
    if (body === undefined)
      return sendError(res, 413, 'too_large', `the body is larger than ${maxBody} bytes`);
    // One at a time: a request is decided against the state the previous one left.
    const turn = this.queue.then(() => this.decide(body, res));
    this.queue = turn.catch(() => {});
    await turn;
  }

  private async decide(body: string, res: ServerResponse): Promise<void> {
    const outcome = addCheckpoint({
      body,
      logs: this.o.logs,
      state: (origin) => this.o.state.get(origin),
      cosigner: this.o.cosigner,
      now: Math.floor(Date.now() / 1000),
    });
    switch (outcome.status) {
      case 200:
        // Durable before the answer: a cosignature is never given for a state the witness could forget.
        await this.o.state.set(outcome.origin, outcome.state, `${outcome.checkpoint.text}`);
        this.o.logger.info({ origin: outcome.origin, size: outcome.state.size }, 'checkpoint cosigned');
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`${outcome.cosignature}\n`);
        return;
      case 409:
        res.writeHead(409, { 'content-type': 'text/x.tlog.size' });
        res.end(`${outcome.size}\n`);
        return;
      default:
        this.o.logger.warn({ status: outcome.status, code: outcome.code }, outcome.message);
        sendError(res, outcome.status, outcome.code, outcome.message);
    }
  }
}
