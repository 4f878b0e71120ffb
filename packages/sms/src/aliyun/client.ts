import * as dysmsapi from '@alicloud/dysmsapi20170525';
import { $OpenApiUtil } from '@alicloud/openapi-core';
import type { AliyunAccount } from '@lr/config';
import { AliyunSmsError, classifyAliyunCode } from './errors';

export interface SendSmsRequest {
  /** the 11-digit mainland number, without +86 */
  phone: string;
  signName: string;
  templateCode: string;
  /** the template's variables, each a string */
  templateParam: Record<string, string>;
  /** our own id for the SMS (the outgoing message's id): QuerySendDetails and receipts give it back */
  outId: string;
}

/** The 11-digit mainland number Alibaba Cloud takes: licences keep phones in E.164 (+86…). */
export function mainlandNumber(phone: string): string {
  return phone.replace(/^\+86/, '');
}

/** Alibaba Cloud's "YYYY-MM-DD HH:mm:ss" (SendDate, ReceiveDate), Beijing time, or undefined. */
export function beijingTime(text: string | null): Date | undefined {
  const match = text ? /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})$/.exec(text) : null;
  return match ? new Date(`${match[1]}T${match[2]}+08:00`) : undefined;
}

export interface SendDetail {
  phone: string;
  /** 1 waiting for its receipt, 2 failed, 3 delivered */
  sendStatus: number;
  errCode: string | null;
  templateCode: string | null;
  content: string | null;
  outId: string | null;
  /** Beijing time, "YYYY-MM-DD HH:mm:ss" */
  sendDate: string | null;
  receiveDate: string | null;
}

/**
 * The provider id of a send found by its OutId (QuerySendDetails, when its worker died before
 * recording the BizId): the look-up does not give the BizId, so the message is recorded under
 * its own id. A receipt for it still carries the BizId, and `out_id` = the message id; a
 * look-up of it asks by phone and day without a BizId.
 */
export const foundByOutId = (messageId: number) => `outid:${messageId}`;
/** The BizId a provider id is, or null for one recorded by foundByOutId. */
export const bizIdOf = (providerMessageId: string): string | null => (providerMessageId.startsWith('outid:') ? null : providerMessageId);

export interface AliyunSmsClient {
  /**
   * SendSms: the BizId of the SMS Alibaba Cloud took, or null when it took it (Code OK) but
   * gave no BizId (record it under foundByOutId); throws AliyunSmsError (classified) otherwise.
   */
  sendSms(request: SendSmsRequest): Promise<{ bizId: string | null }>;
  /** QuerySendDetails: one page of the SMS sent to `phone` on `sendDate` (YYYYMMDD, Beijing time). */
  querySendDetails(query: { phone: string; sendDate: string; bizId?: string; page?: number; pageSize?: number }): Promise<{ totalCount: number; details: SendDetail[] }>;
}

// The package is CommonJS: under Node's ESM the client class is the module's `default`
// export's `default`; under a bundler (esbuild, vitest) it may be `default` itself.
type ClientClass = typeof dysmsapi.default;
const moduleDefault = dysmsapi.default as ClientClass & { default?: ClientClass };
const Client: ClientClass = moduleDefault.default ?? moduleDefault;
const models = ((dysmsapi as { SendSmsRequest?: unknown }).SendSmsRequest ? dysmsapi : moduleDefault) as unknown as typeof dysmsapi;

/** The SDK's Config from a URL: its scheme and host:port are what the SDK takes apart. */
function sdkConfig(settings: AliyunAccount, timeoutMs: number) {
  const url = new URL(settings.endpoint);
  return new $OpenApiUtil.Config({
    accessKeyId: settings.accessKeyId,
    accessKeySecret: settings.accessKeySecret,
    endpoint: url.host,
    protocol: url.protocol.replace(':', ''),
    readTimeout: timeoutMs,
    connectTimeout: timeoutMs,
  });
}

/**
 * The SDK's message without the request it quotes: its HTTP layer appends the method and the
 * whole URL (`socket hang upPOST http://…?PhoneNumbers=…&TemplateParam=…`), and SendSms carries
 * the phone, the holder's variables and the renewal token in that query string. The message
 * is stored on the delivery and logged.
 */
export function withoutRequest(message: string): string {
  const cut = message.search(/(GET|POST|PUT|DELETE) ?https?:\/\/|https?:\/\/|\?[A-Za-z]+=/);
  return (cut < 0 ? message : message.slice(0, cut)).trim() || 'the request to Alibaba Cloud failed';
}

/**
 * What the SDK threw, classified: its errors carry Alibaba Cloud's `code` and the HTTP
 * status; anything without a status (ECONNRESET, a time-out, a refused connection) is the
 * way there failing, which is transient.
 */
export function classifyThrown(error: unknown): AliyunSmsError {
  if (error instanceof AliyunSmsError) return error;
  const e = error as { code?: unknown; statusCode?: unknown; message?: unknown; name?: unknown };
  const message = withoutRequest(typeof e?.message === 'string' ? e.message : String(error));
  if (typeof e?.statusCode === 'number') {
    const code = typeof e.code === 'string' && e.code !== 'undefined' ? e.code : `HTTP_${e.statusCode}`;
    return new AliyunSmsError(classifyAliyunCode(code, e.statusCode), code, message, e.statusCode);
  }
  const code = typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' && e.name !== 'Error' ? e.name : 'TRANSPORT';
  return new AliyunSmsError('transient', code, message);
}

/** Alibaba Cloud SMS through its official SDK; retries are left to the caller (the queue knows the attempts). */
export function aliyunSmsClient(settings: AliyunAccount, timeoutMs = 10_000): AliyunSmsClient {
  const client = new Client(sdkConfig(settings, timeoutMs));
  return {
    async sendSms({ phone, signName, templateCode, templateParam, outId }) {
      let body: { code?: string; message?: string; bizId?: string } | undefined;
      try {
        const request = new models.SendSmsRequest({ phoneNumbers: phone, signName, templateCode, templateParam: JSON.stringify(templateParam), outId });
        ({ body } = await client.sendSms(request));
      } catch (error) {
        throw classifyThrown(error);
      }
      // A refusal comes back as a Code in an HTTP 200, returned rather than thrown.
      const code = body?.code ?? 'NO_CODE';
      if (code !== 'OK') {
        throw new AliyunSmsError(classifyAliyunCode(code), code, body?.message ?? `SendSms answered ${code}`, 200);
      }
      // Code OK is Alibaba Cloud taking the SMS, BizId or not: failing it would let the holder
      // get an SMS recorded as failed. Without a BizId it is found by its OutId, like a send
      // found by a look-up.
      return { bizId: body?.bizId || null };
    },
    async querySendDetails({ phone, sendDate, bizId, page = 1, pageSize = 50 }) {
      let body;
      try {
        const request = new models.QuerySendDetailsRequest({ phoneNumber: phone, sendDate, bizId, currentPage: page, pageSize });
        ({ body } = await client.querySendDetails(request));
      } catch (error) {
        throw classifyThrown(error);
      }
      const code = body?.code ?? 'NO_CODE';
      if (code !== 'OK') throw new AliyunSmsError(classifyAliyunCode(code), code, body?.message ?? `QuerySendDetails answered ${code}`, 200);
      const details = (body?.smsSendDetailDTOs?.smsSendDetailDTO ?? []).map((d) => ({
        phone: d.phoneNum ?? phone,
        sendStatus: Number(d.sendStatus ?? 0),
        errCode: d.errCode ?? null,
        templateCode: d.templateCode ?? null,
        content: d.content ?? null,
        outId: d.outId ?? null,
        sendDate: d.sendDate ?? null,
        receiveDate: d.receiveDate ?? null,
      }));
      return { totalCount: Number(body?.totalCount ?? details.length), details };
    },
  };
}

/** QuerySendDetails lists 50 SMS a page at most. */
const DETAILS_PAGE = 50;
/** The most of a phone's SMS of one day read when looking for one (a phone gets a few SMS a day). */
const DETAILS_LIMIT = 200;

/**
 * The SMS whose OutId is `outId` among those sent to `phone` on `days` (YYYY-MM-DD, Beijing
 * time, as Alibaba Cloud files them), asked by BizId when it is known, page by page; undefined
 * when none lists it. An entry must carry the OutId: a BizId alone may be another SMS's.
 */
export async function findByOutId(
  client: Pick<AliyunSmsClient, 'querySendDetails'>,
  { phone, outId, days, bizId }: { phone: string; outId: string; days: string[]; bizId?: string | null },
): Promise<SendDetail | undefined> {
  for (const day of days) {
    const sendDate = day.replaceAll('-', '');
    for (let page = 1; (page - 1) * DETAILS_PAGE < DETAILS_LIMIT; page += 1) {
      const { details } = await client.querySendDetails({ phone, sendDate, page, pageSize: DETAILS_PAGE, ...(bizId && { bizId }) });
      const match = details.find((d) => d.outId === outId);
      if (match) return match;
      if (details.length < DETAILS_PAGE) break;
    }
  }
  return undefined;
}
