import { normalizeMobile } from '@lr/domain';
import { Type, type Static } from '@sinclair/typebox';
import type { ReceiptPush } from '../provider';
import { foundByOutId } from './client';
import { receiptOfReport } from './receipts';

/** Where Alibaba Cloud pushes its delivery reports (SmsReport); the last segment is ALIYUN_SMS_REPORT_TOKEN. */
const ALIYUN_REPORT_PATH = '/webhooks/aliyun/sms-report';

/** The answer Alibaba Cloud expects: anything else (or no answer) is pushed again after 1, 5 and 10 minutes. */
const REPORT_TAKEN = { code: 0, msg: '接收成功' } as const;

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
const Reports = Type.Array(Report);

/** Our message ids as OutId carries them (an integer column: a longer number is none of ours). */
const MESSAGE_ID = /^\d{1,9}$/;

/**
 * Alibaba Cloud's delivery reports (SmsReport), a JSON array; one push may carry reports of
 * many SMS. Each is matched by its BizId (the provider id a send is recorded with), or, for a
 * send found by its OutId before sending again (no BizId), by foundByOutId(out_id). `out_id`
 * (our message id) and `phone_number` say whose SMS a report is while its send is not yet
 * recorded.
 */
export function aliyunReceiptPush(reportToken: string | null): ReceiptPush {
  return {
    provider: 'Alibaba Cloud',
    path: ALIYUN_REPORT_PATH,
    token: reportToken,
    schema: Reports,
    taken: REPORT_TAKEN,
    read(body) {
      return (body as Static<typeof Reports>).map((report) => {
        const messageId = report.out_id !== undefined && MESSAGE_ID.test(report.out_id) ? Number(report.out_id) : undefined;
        const phone = report.phone_number === undefined ? null : normalizeMobile(report.phone_number);
        return {
          providerMessageIds: messageId === undefined ? [report.biz_id] : [report.biz_id, foundByOutId(messageId)],
          ...(messageId !== undefined && { messageId }),
          ...(phone !== null && { phone }),
          receipt: receiptOfReport({ success: report.success, errCode: report.err_code, errMsg: report.err_msg }),
        };
      });
    },
  };
}
