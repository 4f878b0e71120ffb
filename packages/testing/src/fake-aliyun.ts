import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Recorded } from './fake-http';

export const TEST_ALIYUN = {
  accessKeyId: 'LTAI5tTestAccessKeyId0001',
  accessKeySecret: 'test-access-key-secret-0123456789',
  signName: '卢氏县政务服务',
  /** the category templates the fake knows as approved, with their variables */
  templates: {
    SMS_100000001: ['name', 'no', 'date', 'token', 'tel'],
    /** the digest (ALIYUN_SMS_DIGEST_TEMPLATE_CODE): fixed variables */
    SMS_100000099: ['count', 'first', 'date', 'token', 'tel'],
  } as Record<string, string[]>,
  digestTemplateCode: 'SMS_100000099',
};

/** An SMS the fake took (Code OK). */
export interface AliyunSentSms {
  phone: string;
  signName: string;
  templateCode: string;
  templateParam: Record<string, string>;
  outId: string | null;
  bizId: string;
  sentAt: Date;
}

/** How the fake answers the next request (a SendSms or a QuerySendDetails), instead of taking it. */
export type AliyunFault =
  /** HTTP 200 with this Code (isv.MOBILE_NUMBER_ILLEGAL, isv.AMOUNT_NOT_ENOUGH, …): the SDK returns it */
  | { code: string }
  /** HTTP 400 Throttling.User: the SDK throws a ThrottlingError */
  | 'throttling'
  /** HTTP 500 InternalError: the SDK throws a ServerError */
  | 'http500'
  /** HTTP 400 SignatureDoesNotMatch, whatever the signature */
  | 'signature'
  /** the connection is dropped before any answer: ECONNRESET */
  | 'drop'
  /** taken (kept, listed) but answered only after this many ms: the answer lost, or the worker dead before it came */
  | { lateMs: number }
  /** a SendSms taken (kept, listed by QuerySendDetails) but answered `Code: OK` without a BizId */
  | 'okWithoutBizId';

export interface FakeAliyun {
  url: string;
  /** every request, whatever it was answered */
  requests: Recorded[];
  /** the SMS taken, in order */
  sms(): AliyunSentSms[];
  /** the parameters of each QuerySendDetails, in order */
  lookUps(): URLSearchParams[];
  /** SendSms calls, however answered */
  sendCalls(): URLSearchParams[];
  /** requests refused for their signature */
  badSignatures(): number;
  /** the next requests, one fault each, in order */
  queueFaults(...faults: AliyunFault[]): void;
  /** answer every SendSms with this fault until cleared (an account that cannot send) */
  setStandingFault(fault: AliyunFault | null): void;
  /** how QuerySendDetails shows a taken SMS from now on (its receipt came) */
  setStatus(bizId: string, sendStatus: 1 | 2 | 3, errCode?: string): void;
  /** sets a taken SMS's send time, as a test sets the message's record */
  setSentAt(bizId: string, at: Date): void;
  close(): Promise<void>;
}

/** The request's ACS3-HMAC-SHA256 signature as Alibaba Cloud computes it, from what arrived. */
function expectedSignature(req: IncomingMessage, rawQuery: string, signedHeaders: string[], secret: string): string {
  const encode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const pairs = [...new URLSearchParams(rawQuery)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const canonicalQuery = pairs.map(([k, v]) => `${k}=${encode(v)}`).join('&');
  const canonicalHeaders = signedHeaders.map((h) => `${h}:${String(req.headers[h] ?? '').trim()}\n`).join('');
  const path = (req.url ?? '/').split('?')[0] || '/';
  const canonicalRequest = [req.method, path, canonicalQuery, canonicalHeaders, signedHeaders.join(';'), String(req.headers['x-acs-content-sha256'] ?? '')].join('\n');
  const stringToSign = `ACS3-HMAC-SHA256\n${createHash('sha256').update(canonicalRequest).digest('hex')}`;
  return createHmac('sha256', secret).update(stringToSign).digest('hex');
}

const AUTHORIZATION = /^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})$/;

/** Whether the request is signed with an access key id other than the account's: Alibaba Cloud looks the key up before it can check a signature. */
function unknownKey(req: IncomingMessage, keys: { accessKeyId: string }): boolean {
  const match = AUTHORIZATION.exec(String(req.headers.authorization ?? ''));
  return match !== null && match[1] !== keys.accessKeyId;
}

/** Whether the Authorization header is a valid ACS3-HMAC-SHA256 signature of this request by TEST_ALIYUN's key. */
function verify(req: IncomingMessage, rawQuery: string, body: Buffer, keys: { accessKeyId: string; accessKeySecret: string }): boolean {
  const match = AUTHORIZATION.exec(String(req.headers.authorization ?? ''));
  if (!match || match[1] !== keys.accessKeyId) return false;
  const signedHeaders = match[2]!.split(';');
  // The signed headers must cover what the signature protects: the host, the action, the time, the nonce, the payload.
  for (const needed of ['host', 'x-acs-action', 'x-acs-date', 'x-acs-signature-nonce', 'x-acs-content-sha256']) {
    if (!signedHeaders.includes(needed)) return false;
  }
  if (req.headers['x-acs-content-sha256'] !== createHash('sha256').update(body).digest('hex')) return false;
  const expected = Buffer.from(expectedSignature(req, rawQuery, signedHeaders, keys.accessKeySecret), 'hex');
  return timingSafeEqual(expected, Buffer.from(match[3]!, 'hex'));
}

/** Beijing time, as Alibaba Cloud writes its dates: "YYYY-MM-DD HH:mm:ss" and the day "YYYYMMDD". */
function beijing(date: Date) {
  const iso = new Date(date.getTime() + 8 * 3600_000).toISOString();
  return { dateTime: `${iso.slice(0, 10)} ${iso.slice(11, 19)}`, day: iso.slice(0, 10).replaceAll('-', '') };
}

const requestId = () => randomUUID().toUpperCase();

/**
 * Speaks the part of Alibaba Cloud SMS (dysmsapi, 2017-05-25) the service uses, as the
 * official SDK calls it: RPC POSTs to `/` with the action in `x-acs-action` and the
 * parameters in the query, signed with ACS3-HMAC-SHA256 (verified with the secret: a wrong
 * one is HTTP 400 SignatureDoesNotMatch, an unknown access key id HTTP 404
 * InvalidAccessKeyId.NotFound). SendSms checks the signature name, the template
 * code and its variables against TEST_ALIYUN as Alibaba Cloud does against what it approved,
 * and answers `{ Code: "OK", BizId }`; QuerySendDetails lists the SMS of a phone and day.
 * Faults can be queued to play each error code, throttling, a 500 or a dropped connection.
 */
export async function fakeAliyun(options: Partial<typeof TEST_ALIYUN> = {}): Promise<FakeAliyun> {
  const keys = { ...TEST_ALIYUN, ...options };
  const requests: Recorded[] = [];
  const kept: (AliyunSentSms & { sendStatus: number; errCode: string; receivedAt: Date | null })[] = [];
  const faults: AliyunFault[] = [];
  let standing: AliyunFault | null = null;
  let refused = 0;

  const answerSend = (q: URLSearchParams): { status: number; body: unknown } => {
    const code = (c: string, message: string) => ({ status: 200, body: { Code: c, Message: message, RequestId: requestId() } });
    const templateCode = q.get('TemplateCode');
    if (!templateCode) return { status: 400, body: { Code: 'MissingTemplateCode', Message: 'TemplateCode is mandatory for this action.', RequestId: requestId() } };
    const phone = q.get('PhoneNumbers') ?? '';
    if (!/^1\d{10}$/.test(phone)) return code('isv.MOBILE_NUMBER_ILLEGAL', '非法手机号');
    if (q.get('SignName') !== keys.signName) return code('isv.SMS_SIGNATURE_ILLEGAL', '该账号下找不到对应签名');
    const variables = keys.templates[templateCode];
    if (!variables) return code('isv.SMS_TEMPLATE_ILLEGAL', '该账号下找不到对应模板');
    let param: Record<string, unknown>;
    try {
      param = JSON.parse(q.get('TemplateParam') ?? '{}') as Record<string, unknown>;
    } catch {
      return code('isv.INVALID_JSON_PARAM', 'JSON参数不合法，只接受字符串值');
    }
    if (variables.some((v) => typeof param[v] !== 'string' || param[v] === '')) return code('isv.TEMPLATE_MISSING_PARAMETERS', '模板缺少变量');
    if (Object.values(param).some((v) => typeof v !== 'string' || v.length > 35)) return code('isv.INVALID_PARAMETERS', '参数异常');
    const sms = {
      phone,
      signName: keys.signName,
      templateCode,
      templateParam: param as Record<string, string>,
      outId: q.get('OutId'),
      bizId: `${Date.now()}${randomBytes(4).readUInt32BE() % 10_000_000}`.slice(0, 20),
      sentAt: new Date(),
      sendStatus: 1,
      errCode: '',
      receivedAt: null,
    };
    kept.push(sms);
    return { status: 200, body: { Code: 'OK', Message: 'OK', BizId: sms.bizId, RequestId: requestId() } };
  };

  const answerQuery = (q: URLSearchParams): { status: number; body: unknown } => {
    const phone = q.get('PhoneNumber') ?? '';
    const day = q.get('SendDate') ?? '';
    if (!/^1\d{10}$/.test(phone) || !/^\d{8}$/.test(day)) return { status: 200, body: { Code: 'isv.INVALID_PARAMETERS', Message: '参数异常', RequestId: requestId() } };
    const pageSize = Math.min(50, Number(q.get('PageSize') ?? 10));
    const page = Number(q.get('CurrentPage') ?? 1);
    const bizId = q.get('BizId');
    // Newest first, as Alibaba Cloud lists them.
    const matching = kept.filter((s) => s.phone === phone && beijing(s.sentAt).day === day && (!bizId || s.bizId === bizId)).reverse();
    const dtos = matching.slice((page - 1) * pageSize, page * pageSize).map((s) => ({
      PhoneNum: s.phone,
      SendStatus: s.sendStatus,
      ErrCode: s.errCode || (s.sendStatus === 3 ? 'DELIVERED' : ''),
      TemplateCode: s.templateCode,
      Content: `【${s.signName}】${JSON.stringify(s.templateParam)}`,
      SendDate: beijing(s.sentAt).dateTime,
      ReceiveDate: s.receivedAt ? beijing(s.receivedAt).dateTime : '',
      OutId: s.outId ?? '',
    }));
    return { status: 200, body: { Code: 'OK', Message: 'OK', RequestId: requestId(), TotalCount: matching.length, SmsSendDetailDTOs: { SmsSendDetailDTO: dtos } } };
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: body.toString('utf8'), at: Date.now() });
      const rawQuery = (req.url ?? '').split('?')[1] ?? '';
      const query = new URLSearchParams(rawQuery);
      const action = String(req.headers['x-acs-action'] ?? '');
      const reply = (status: number, json: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json;charset=utf-8' });
        res.end(JSON.stringify(json));
      };
      const error = (status: number, code: string, message: string) => reply(status, { RequestId: requestId(), HostId: 'dysmsapi.aliyuncs.com', Code: code, Message: message });
      // An unknown AccessKeyId is HTTP 404, as Alibaba Cloud's common errors list it (the SDK throws it).
      if (unknownKey(req, keys)) return error(404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
      if (!verify(req, rawQuery, body, keys)) {
        refused += 1;
        return error(400, 'SignatureDoesNotMatch', 'Specified signature does not match our calculation.');
      }
      if (action !== 'SendSms' && action !== 'QuerySendDetails') return error(404, 'InvalidAction.NotFound', `Specified api is not found: ${action}`);
      const fault = faults.shift() ?? (action === 'SendSms' ? standing : null);
      if (fault === 'drop') return req.socket.destroy();
      if (fault === 'throttling') return error(400, 'Throttling.User', 'Request was denied due to user flow control.');
      if (fault === 'http500') return error(500, 'InternalError', 'The request processing has failed due to some unknown error.');
      if (fault === 'signature') return error(400, 'SignatureDoesNotMatch', 'Specified signature does not match our calculation.');
      if (fault && typeof fault === 'object' && 'code' in fault) return reply(200, { Code: fault.code, Message: fault.code, RequestId: requestId() });
      const answer = action === 'SendSms' ? answerSend(query) : answerQuery(query);
      if (fault === 'okWithoutBizId' && answer.body && typeof answer.body === 'object' && 'BizId' in answer.body) {
        const { BizId: _taken, ...withoutBizId } = answer.body as Record<string, unknown>;
        return reply(answer.status, withoutBizId);
      }
      if (fault && typeof fault === 'object' && 'lateMs' in fault) {
        setTimeout(() => {
          if (!res.destroyed) reply(answer.status, answer.body);
        }, fault.lateMs);
        return;
      }
      reply(answer.status, answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const params = (action: string) =>
    requests.flatMap((r) => (r.headers['x-acs-action'] === action ? [new URLSearchParams(r.path.split('?')[1] ?? '')] : []));
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    sms: () => kept.map(({ phone, signName, templateCode, templateParam, outId, bizId, sentAt }) => ({ phone, signName, templateCode, templateParam, outId, bizId, sentAt })),
    lookUps: () => params('QuerySendDetails'),
    sendCalls: () => params('SendSms'),
    badSignatures: () => refused,
    queueFaults: (...more) => faults.push(...more),
    setStandingFault: (fault) => {
      standing = fault;
    },
    setSentAt: (bizId, at) => {
      const sms = kept.find((s) => s.bizId === bizId);
      if (!sms) throw new Error(`the fake Alibaba Cloud has no SMS ${bizId}`);
      sms.sentAt = at;
    },
    setStatus: (bizId, sendStatus, errCode) => {
      const sms = kept.find((s) => s.bizId === bizId);
      if (!sms) throw new Error(`the fake Alibaba Cloud has no SMS ${bizId}`);
      sms.sendStatus = sendStatus;
      sms.errCode = errCode ?? (sendStatus === 3 ? 'DELIVERED' : '');
      sms.receivedAt = new Date();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
