import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { TWILIO_STATUS_PATH, type Config } from '@lr/config';
import { idSealer, sealingThread, type CancelBackend, type Database } from '@lr/db';
import type { MessageQueues } from '@lr/jobs';
import type { Logger } from '@lr/log';
import { receiptPushes } from '@lr/sms';
import Fastify, { type FastifyBaseLogger, type FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { apiKeyAuth, apiKeyIdentity, presentsSecret } from './auth';
import { frameworkErrors, installErrorHandling } from './errors';
import { registerProtection } from './protection';
import { createReportGate } from './report-gate';
import { auditRoutes } from './routes/audit';
import { categoryRoutes } from './routes/categories';
import { followUpRoutes } from './routes/follow-ups';
import { forecastRoutes } from './routes/forecast';
import { inboxRoutes, platformTokenIdentity } from './routes/inbox';
import { licenseImportRoutes } from './routes/license-import';
import { ledgerRoutes } from './routes/ledger';
import { licenseRoutes } from './routes/licenses';
import { linkRoutes } from './routes/links';
import { metricsRoutes } from './routes/metrics';
import { healthRoutes, registerQueueDashboard } from './routes/ops';
import { receiptPushRoute, receiptPushRoutes } from './routes/receipt-pushes';
import { reminderRoutes } from './routes/reminders';
import { scanRoutes } from './routes/scans';
import { statsRoutes } from './routes/stats';
import { suppressionRoutes } from './routes/suppressions';
import { twilioWebhookRoutes } from './routes/webhooks';

export interface AppDeps {
  config: Config;
  db: Database;
  /** the database handle's: stops the COPY of a CSV download whose client went away */
  cancelBackend: CancelBackend;
  redis: Redis;
  queues: MessageQueues;
  log: Logger;
  /** How long a request's headers or body may stall before the connection is dropped; tests shorten it. */
  stallMs?: number;
}

/** The body of any route that does not set its own: JSON of a category, a follow-up action... */
const JSON_BODY_LIMIT = 1024 * 1024;

/**
 * A client that sends its headers or body a byte at a time (or not at all) holds a socket
 * and a request for as long as it likes: after this long without a byte it is dropped.
 */
const STALL_MS = 30_000;

export async function buildApp({ config, db, cancelBackend, redis, queues, log, stallMs = STALL_MS }: AppDeps) {
  // Typed as Fastify's logger so the instance keeps Fastify's default logger type.
  const logger: FastifyBaseLogger = log;
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: JSON_BODY_LIMIT,
    // Behind the proxies TRUST_PROXY names, request.ip is the client's address from
    // X-Forwarded-For, so that rate limits count clients, not the proxy.
    trustProxy: config.trustProxy,
    // A socket silent for stallMs is closed (a stalled body, a download nobody reads, which
    // would hold a report's connection), but not while a handler works (the hooks below);
    // headers must be complete within stallMs, checked every second. No limit on a whole
    // request: a CSV import streams as long as its file takes.
    connectionTimeout: stallMs,
    http: { headersTimeout: stallMs, connectionsCheckingInterval: Math.min(1000, stallMs / 2) },
    frameworkErrors,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && /^[\w-]{1,64}$/.test(given) ? given : randomUUID();
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  // Silence while the handler works is the server's own (a catch-up scan, a report waiting for
  // its turn): once the request is in, the socket may be idle until the answer starts. The
  // answer is then timed again, so a download nobody reads is dropped.
  app.addHook('preHandler', async (request) => {
    if (request.raw.complete) request.raw.socket?.setTimeout?.(0);
  });
  app.addHook('onSend', async (request) => {
    request.raw.socket?.setTimeout?.(stallMs);
  });
  // Helmet and the rate limit, before any route: they attach to routes as these are added.
  // Their cheap array-size check runs before the error handling's walk of the whole body.
  const apiKeys = apiKeyIdentity(db, config.adminApiKey);
  const identifyLicensee = platformTokenIdentity(config.inboxJwtSecret!);
  // Only a request with a token is asked about; the metrics token and the platform token
  // first, as checking them asks nothing of the database.
  const knownSender = async (request: FastifyRequest, { askDatabase }: { askDatabase: boolean }) => {
    if (!request.headers.authorization) return undefined;
    if (config.metricsToken !== undefined && presentsSecret(request, config.metricsToken)) return 'metrics-token';
    const licensee = await identifyLicensee(request);
    if (licensee !== undefined) return `licensee:${licensee}`;
    const caller = askDatabase ? await apiKeys.identify(request) : apiKeys.recentlySeen(request);
    return caller && `api-key:${caller.keyId ?? caller.name}`;
  };
  const pushes = receiptPushes(config.sms);
  const receiptRoutes = [TWILIO_STATUS_PATH, ...pushes.map(receiptPushRoute)];
  await registerProtection(app, { redis, queuePrefix: config.queuePrefix, perMinute: config.rateLimitPerMinute, knownSender, receiptRoutes });
  installErrorHandling(app);
  await app.register(formbody);
  await app.register(swagger, {
    openapi: {
      info: { title: 'Licence-expiry reminder service', version: '1.0.0', description: "Reminders of licences' expiry by SMS and app push. The guide to this API is docs/api.md in the project's repository." },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const requireRole = apiKeyAuth(apiKeys.identify);
  await app.register(healthRoutes(db, redis));
  await app.register(metricsRoutes({ db, queues, log, metricsToken: config.metricsToken }, requireRole));
  await app.register(categoryRoutes(db, requireRole, { linkBaseUrl: config.linkBaseUrl }, config.sms.provider));
  const sealing = sealingThread(config.piiKey!);
  app.addHook('onClose', () => sealing.close());
  await app.register(licenseRoutes(db, idSealer(config.piiKey!), queues.counters, requireRole));
  await app.register(licenseImportRoutes(db, sealing, queues.counters, requireRole));
  await app.register(
    scanRoutes({ db, queues, log, timezone: config.timezone, followUpDays: config.followUpDays, allowFutureScans: config.allowFutureScans }, requireRole),
  );
  await app.register(reminderRoutes(db, requireRole));
  const reports = createReportGate(config.reportConcurrency);
  await app.register(ledgerRoutes(db, reports, requireRole, { timezone: config.timezone, cancelBackend }));
  await app.register(statsRoutes(db, reports, requireRole));
  await app.register(forecastRoutes(db, reports, requireRole, config.timezone));
  await app.register(followUpRoutes({ db, reports, timezone: config.timezone, copy: { timezone: config.timezone, cancelBackend } }, requireRole));
  await app.register(auditRoutes(db, requireRole));
  await app.register(suppressionRoutes(db, requireRole));
  await app.register(inboxRoutes(db, identifyLicensee));
  await app.register(linkRoutes(db, queues.counters, config.timezone));
  const twilioAuth =
    config.sms.provider === 'twilio' && config.publicBaseUrl
      ? { authToken: config.sms.authToken, publicBaseUrl: config.publicBaseUrl }
      : null;
  await app.register(twilioWebhookRoutes(db, twilioAuth));
  for (const push of pushes) await app.register(receiptPushRoutes(db, push));
  await registerQueueDashboard(app, db, queues, requireRole);
  return app;
}
