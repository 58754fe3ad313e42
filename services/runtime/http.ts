import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, LogController } from 'fastify';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { issueDetails } from '../../schemas/common.js';
import { openApiDocument } from '../../schemas/openapi.js';
import type { Component, Health } from '../ports/lifecycle.js';
import { GlasshouseError } from './errors.js';
import type { Lifecycle } from './lifecycle.js';
import type { Logger } from './logger.js';

export interface HttpOptions {
  host: string;
  port: number;
  logger: Logger;
  metrics: Registry;
  lifecycle: Lifecycle;
  version: string;
  /** Bytes; bodies above it answer 413. */
  bodyLimit?: number;
}

/**
 * The process's one HTTP server. Roles register their routes on `app` before `start()`.
 * Serves `/healthz`, `/readyz`, `/metrics` and `/v1/openapi.json`, and maps every error to
 * `{"error":{"code","message","details"?}}`.
 */
export class HttpServer implements Component {
  readonly name = 'http';
  readonly app: FastifyInstance;
  private listening = false;

  constructor(private readonly options: HttpOptions) {
    this.app = Fastify({
      loggerInstance: options.logger.child({ component: 'http' }),
      // Per-request logs would dominate at ingest rates; errors are logged by the error handler.
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: options.bodyLimit ?? 1024 * 1024,
      // Explicit timeouts: a slow or stalled client cannot hold a connection for minutes.
      connectionTimeout: 30_000,
      keepAliveTimeout: 5_000,
      requestTimeout: 30_000,
      // Headers must arrive within 10 s; Node checks these deadlines every second (its default is 30 s).
      http: { headersTimeout: 10_000, connectionsCheckingInterval: 1_000 },
      return503OnClosing: true,
      forceCloseConnections: 'idle',
      // Errors Node answers before a request exists (slow headers, oversized headers, bad HTTP): the
      // same `{"error":{...}}` envelope as every other answer.
      clientErrorHandler: answerClientError,
      // A URL that does not decode (e.g. `/%zz`) is answered before routing: in the envelope too.
      frameworkErrors: (error, _request, reply) => {
        void (reply as FastifyReply)
          .code(400)
          .send({ error: { code: 'malformed_url', message: error.message } });
      },
    }) as unknown as FastifyInstance;
    this.app.setErrorHandler((error: FastifyError | GlasshouseError | z.ZodError, _request, reply) => {
      const { status, body } = errorAnswer(error);
      if (status >= 500) this.app.log.error({ err: error }, 'request failed');
      if ((status === 429 || status === 503) && !reply.hasHeader('retry-after')) {
        const ms = error instanceof GlasshouseError ? error.options.retryAfterMs : undefined;
        if (status === 429 || ms !== undefined)
          void reply.header('retry-after', String(Math.max(1, Math.ceil((ms ?? 1000) / 1000))));
      }
      void reply.code(status).send(body);
    });
    // Every answer (API, errors, dashboard) is never sniffed into another type nor framed; the
    // dashboard sets its own, looser Content-Security-Policy (gateway/dashboard.ts).
    this.app.addHook('onSend', async (_request, reply) => {
      if (!reply.hasHeader('x-content-type-options')) void reply.header('x-content-type-options', 'nosniff');
      if (!reply.hasHeader('x-frame-options')) void reply.header('x-frame-options', 'DENY');
      if (!reply.hasHeader('content-security-policy'))
        void reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
    });
    this.app.setNotFoundHandler((request, reply) => {
      void reply
        .code(404)
        .send({ error: { code: 'not_found', message: `no route for ${request.method} ${request.url}` } });
    });
    this.app.get('/healthz', async () => ({ status: 'ok' }));
    // Public: each part's name and state only. Details (file paths, addresses, driver messages)
    // go to the log, once per change, not to whoever asks.
    let lastLogged = '';
    this.app.get('/readyz', async (_request, reply) => {
      const { ready, parts } = options.lifecycle.health();
      const failing = parts.filter((p) => p.state !== 'ok');
      const summary = JSON.stringify(failing);
      if (summary !== lastLogged) {
        lastLogged = summary;
        if (failing.length) this.app.log.warn({ parts: failing }, 'readiness: parts not ok');
      }
      return reply.code(ready ? 200 : 503).send({
        status: ready ? 'ready' : 'not_ready',
        parts: parts.map(({ name, state }) => ({ name, state })),
      });
    });
    this.app.get('/metrics', async (_request, reply) => {
      return reply.header('content-type', options.metrics.contentType).send(await options.metrics.metrics());
    });
    this.app.get('/v1/openapi.json', async () => openApiDocument(options.version));
  }

  async start(): Promise<void> {
    try {
      await this.app.listen({ host: this.options.host, port: this.options.port });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') {
        throw new GlasshouseError(
          'port_in_use',
          `port ${this.options.port} on ${this.options.host} is already in use (set GLASSHOUSE_PORT or --port)`,
        );
      }
      throw err;
    }
    this.listening = true;
  }

  /** The bound port (useful with port 0). */
  port(): number {
    const address = this.app.server.address();
    return typeof address === 'object' && address ? address.port : this.options.port;
  }

  async stop(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    await this.app.close();
  }

  health(): Health {
    return this.listening ? { state: 'ok' } : { state: 'error', detail: 'not listening' };
  }
}

/** Maps any thrown value to an HTTP status and the public error envelope. */
export function errorAnswer(error: unknown): {
  status: number;
  body: { error: { code: string; message: string; details?: unknown } };
} {
  if (error instanceof GlasshouseError) {
    return {
      status: error.status,
      body: {
        error: {
          code: error.code,
          message: error.message,
          ...(error.details === undefined ? {} : { details: error.details }),
        },
      },
    };
  }
  if (error instanceof z.ZodError) {
    return {
      status: 400,
      body: {
        error: {
          code: 'invalid_request',
          message: 'the request does not match the contract',
          details: issueDetails(error),
        },
      },
    };
  }
  const fastifyError = error as Partial<FastifyError>;
  const status = typeof fastifyError.statusCode === 'number' ? fastifyError.statusCode : 500;
  if (status < 500) {
    const code = fastifyCodes[fastifyError.code ?? ''] ?? 'invalid_request';
    return { status, body: { error: { code, message: fastifyError.message ?? 'bad request' } } };
  }
  return { status: 500, body: { error: { code: 'internal', message: 'internal error' } } };
}

/** Node's `clientError` codes and the answers they get; the connection is closed after it. */
const clientErrors: Record<string, { status: number; code: string; message: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    code: 'request_timeout',
    message: 'the request did not arrive in time (headers within 10 s, the whole request within 30 s)',
  },
  HPE_HEADER_OVERFLOW: {
    status: 431,
    code: 'headers_too_large',
    message: 'the request headers are larger than the server accepts (16 KiB)',
  },
};

function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const answer = clientErrors[err.code ?? ''] ?? {
    status: 400,
    code: 'malformed_request',
    message: 'the request is not valid HTTP/1.1',
  };
  const body = JSON.stringify({ error: { code: answer.code, message: answer.message } });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

const fastifyCodes: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'malformed_body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'malformed_body',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'malformed_body',
};
