import { foundByOutId, receiptOfReport } from '@lr/aliyun-sms';
import { applyReceipt, findMessage, findMessageByProviderId, type Database } from '@lr/db';
import { normalizeMobile } from '@lr/domain';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { sameSecret } from '../auth';
import { ApiError } from '../errors';
import { WEBHOOK_BODY_LIMIT } from './webhooks';

/** Where Alibaba Cloud pushes its delivery reports (SmsReport); the last segment is ALIYUN_SMS_REPORT_TOKEN. */
export const ALIYUN_REPORT_PATH = '/webhooks/aliyun/sms-report';
export const ALIYUN_REPORT_ROUTE = `${ALIYUN_REPORT_PATH}/:token`;

/** The answer Alibaba Cloud expects: anything else (or no answer) is pushed again after 1, 5 and 10 minutes. */
export const REPORT_TAKEN = { code: 0, msg: '接收成功' } as const;

/** Alibaba Cloud's fields of one report; those we do not use are let through unchecked. */
const Report = Type.Object(
  {
    biz_id: Type.String({ minLength: 1, maxLength: 64 }),
    out_id: Type.Optional(Type.String({ maxLength: 64 })),
    success: Type.Boolean(),
    err_code: Type.Optional(Type.String({ maxLength: 64 })),
    err_msg: Type.Optional(Type.String({ maxLength: 256 })),
    phone_number: Type.Optional(Type.String({ maxLength: 32 })),
    send_time: Type.Optional(Type.String({ maxLength: 32 })),
    report_time: Type.Optional(Type.String({ maxLength: 32 })),
    sms_size: Type.Optional(Type.String({ maxLength: 8 })),
  },
  { additionalProperties: true },
);


/**
 * Alibaba Cloud's delivery reports, pushed as a JSON array (one push may carry reports of
 * many SMS). The push is not signed: the secret last segment of the URL authenticates it,
 * checked before the body is read (403 otherwise, and always when SMS_PROVIDER is not aliyun).
 *
 * Each report is matched to its message by `biz_id` (the BizId the send was recorded with)
 * and moves a `sent` message on, as Twilio's callbacks do (recordReceipt): a report pushed
 * again, or one older than the status the message has, changes nothing. A report whose
 * BizId no message carries yet (the send is not recorded: the worker records several sends
 * together) is kept while its message (`out_id`, our message id) is being sent, and applied
 * when the send is recorded (applyReceipt, as Twilio's); otherwise it is none of ours and dropped.
 * Each push is answered 200 `{"code":0,"msg":"接收成功"}`, whatever its reports matched, so
 * that Alibaba Cloud does not push them again; a push the database could not take is
 * answered 503, and Alibaba Cloud pushes it again.
 */
export function aliyunReportRoutes(db: Database, reportToken: string | null): FastifyPluginAsyncTypebox {
  // Compared as hashes: equal lengths, and no timing that tells how much of a guess was right.
  const tokenMatches = (given: string) => reportToken !== null && sameSecret(given, reportToken);
  return async (app) => {
    app.post(
      ALIYUN_REPORT_ROUTE,
      {
        // Info lines (incoming request, request completed) carry the URL, and so the token:
        // not logged for this route. What a push did is logged below, without it.
        logLevel: 'warn',
        bodyLimit: WEBHOOK_BODY_LIMIT,
        onRequest: async (request: FastifyRequest<{ Params: { token?: string } }>) => {
          if (!tokenMatches(request.params.token ?? '')) {
            // Said at warn, the route's level, so that an operator whose receipts stopped sees why; without the URL.
            app.log.warn({ reqId: request.id, ip: request.ip }, 'Alibaba Cloud report push with a wrong token: 403');
            throw new ApiError(403, 'bad_token', 'not the receipt URL this service gave Alibaba Cloud');
          }
        },
        schema: {
          tags: ['webhooks'],
          params: Type.Object({ token: Type.String({ maxLength: 256 }) }),
          body: Type.Array(Report),
        },
      },
      async (request) => {
        const counts = { applied: 0, unchanged: 0, kept: 0, unknown: 0 };
        for (const report of request.body) {
          const outcome = receiptOfReport({ success: report.success, errCode: report.err_code, errMsg: report.err_msg });
          const applied = await applyReceipt(db, {
            providerMessageId: (await recordedUnder(db, report.biz_id, report.out_id)) ?? report.biz_id,
            receipt: outcome,
            recipient: () => recipientOfUnrecorded(db, report.out_id, report.phone_number),
          });
          if (applied === 'unknown') {
            app.log.warn({ reqId: request.id, bizId: report.biz_id, outId: report.out_id }, 'Alibaba Cloud report for a BizId none of our messages carries: dropped');
          }
          counts[applied] += 1;
        }
        app.log.info({ reqId: request.id, reports: request.body.length, ...counts }, 'Alibaba Cloud delivery reports');
        return REPORT_TAKEN;
      },
    );
  };
}

/**
 * The provider id a report's SMS is recorded under: its BizId; or, for a send found at
 * Alibaba Cloud by its OutId before sending again (which gives no BizId), foundByOutId of
 * `out_id`. Null when none of our sends carries either.
 */
async function recordedUnder(db: Database, bizId: string, outId: string | undefined): Promise<string | null> {
  if (await findMessageByProviderId(db, bizId)) return bizId;
  if (outId === undefined || !/^\d{1,9}$/.test(outId)) return null;
  const found = foundByOutId(Number(outId));
  return (await findMessageByProviderId(db, found)) ? found : null;
}

/**
 * The phone of the SMS a report whose BizId is not recorded may belong to: its message's
 * (`out_id` is our message id), or else the report's own number.
 */
async function recipientOfUnrecorded(db: Database, outId: string | undefined, phone: string | undefined): Promise<string | null> {
  if (outId !== undefined && /^\d{1,9}$/.test(outId)) {
    const message = await findMessage(db, Number(outId));
    if (message?.channel === 'sms') return message.recipient;
  }
  return phone === undefined ? null : normalizeMobile(phone);
}
