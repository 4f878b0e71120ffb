import { fakeAliyun, TEST_ALIYUN, type FakeAliyun } from '@lr/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aliyunSmsClient, AliyunSmsError, bizIdOf, foundByOutId, type AliyunErrorClass, type AliyunSmsClient } from './index';

const request = {
  phone: '13812345678',
  signName: TEST_ALIYUN.signName,
  templateCode: 'SMS_100000001',
  templateParam: { name: '食品经营许可证', no: 'JY14112240001', date: '2026-04-01', token: 'abc123', tel: '0398-7856315' },
  outId: '42',
};

async function refusal(promise: Promise<unknown>): Promise<AliyunSmsError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AliyunSmsError);
  return error as AliyunSmsError;
}

describe('the Alibaba Cloud SMS client, through the official SDK against the fake', () => {
  let aliyun: FakeAliyun;
  let client: AliyunSmsClient;
  beforeAll(async () => {
    aliyun = await fakeAliyun();
    client = aliyunSmsClient({ accessKeyId: TEST_ALIYUN.accessKeyId, accessKeySecret: TEST_ALIYUN.accessKeySecret, endpoint: aliyun.url }, 2_000);
  });
  afterAll(() => aliyun.close());

  it('sends a signed SendSms with the phone, signature, template, its variables as JSON and OutId; Code OK gives the BizId', async () => {
    const { bizId } = await client.sendSms(request);
    expect(aliyun.badSignatures()).toBe(0);
    const [sent] = aliyun.sms().slice(-1);
    expect(sent).toMatchObject({ phone: '13812345678', signName: '卢氏县政务服务', templateCode: 'SMS_100000001', templateParam: request.templateParam, outId: '42', bizId });
    expect(aliyun.requests.at(-1)!.headers.authorization).toMatch(/^ACS3-HMAC-SHA256 Credential=LTAI5tTestAccessKeyId0001,/);
  });

  it('takes Code OK without a BizId as sent (bizId null): Alibaba Cloud took the SMS', async () => {
    aliyun.queueFaults('okWithoutBizId');
    expect(await client.sendSms({ ...request, outId: '43' })).toEqual({ bizId: null });
    expect(aliyun.sms().at(-1)).toMatchObject({ outId: '43' });
  });

  it('is refused with SignatureDoesNotMatch when the secret is wrong: the fake checks the signature', async () => {
    const wrong = aliyunSmsClient({ accessKeyId: TEST_ALIYUN.accessKeyId, accessKeySecret: 'not-the-secret', endpoint: aliyun.url }, 2_000);
    const error = await refusal(wrong.sendSms(request));
    expect(error).toMatchObject({ code: 'SignatureDoesNotMatch', errorClass: 'account', httpStatus: 400 });
  });

  it('is refused with InvalidAccessKeyId.NotFound, thrown on an HTTP 404 as Alibaba Cloud answers it, when the access key id is unknown', async () => {
    const unknown = aliyunSmsClient({ accessKeyId: 'LTAI5tNoSuchAccessKeyId00', accessKeySecret: TEST_ALIYUN.accessKeySecret, endpoint: aliyun.url }, 2_000);
    const error = await refusal(unknown.sendSms(request));
    expect(error).toMatchObject({ code: 'InvalidAccessKeyId.NotFound', errorClass: 'account', httpStatus: 404 });
  });

  const cases: [string, Parameters<FakeAliyun['queueFaults']>[0], AliyunErrorClass, string][] = [
    ['an illegal number', { code: 'isv.MOBILE_NUMBER_ILLEGAL' }, 'permanent', 'isv.MOBILE_NUMBER_ILLEGAL'],
    ['missing template variables', { code: 'isv.TEMPLATE_MISSING_PARAMETERS' }, 'permanent', 'isv.TEMPLATE_MISSING_PARAMETERS'],
    ['invalid parameters', { code: 'isv.INVALID_PARAMETERS' }, 'permanent', 'isv.INVALID_PARAMETERS'],
    ['an unapproved template', { code: 'isv.SMS_TEMPLATE_ILLEGAL' }, 'permanent', 'isv.SMS_TEMPLATE_ILLEGAL'],
    ['an unapproved signature', { code: 'isv.SMS_SIGNATURE_ILLEGAL' }, 'permanent', 'isv.SMS_SIGNATURE_ILLEGAL'],
    ['a blocked word', { code: 'isv.BLACK_KEY_CONTROL_LIMIT' }, 'permanent', 'isv.BLACK_KEY_CONTROL_LIMIT'],
    ["the carrier's frequency limit", { code: 'isv.BUSINESS_LIMIT_CONTROL' }, 'hold_hour', 'isv.BUSINESS_LIMIT_CONTROL'],
    ['the daily limit', { code: 'isv.DAY_LIMIT_CONTROL' }, 'hold_day', 'isv.DAY_LIMIT_CONTROL'],
    ['a low balance', { code: 'isv.AMOUNT_NOT_ENOUGH' }, 'account', 'isv.AMOUNT_NOT_ENOUGH'],
    ['a suspended account', { code: 'isv.OUT_OF_SERVICE' }, 'account', 'isv.OUT_OF_SERVICE'],
    ['an unknown access key', { code: 'InvalidAccessKeyId.NotFound' }, 'account', 'InvalidAccessKeyId.NotFound'],
    ['a refused signature', 'signature', 'account', 'SignatureDoesNotMatch'],
    ['throttling', 'throttling', 'transient', 'Throttling.User'],
    ['an HTTP 500', 'http500', 'transient', 'InternalError'],
    ['a dropped connection', 'drop', 'transient', 'ECONNRESET'],
  ];
  it.each(cases)('classifies %s', async (_name, fault, errorClass, code) => {
    aliyun.queueFaults(fault);
    const error = await refusal(client.sendSms(request));
    expect(error).toMatchObject({ errorClass, code });
  });

  it('classifies a time-out as transient', async () => {
    aliyun.queueFaults({ lateMs: 3_000 });
    const error = await refusal(client.sendSms(request));
    expect(error.errorClass).toBe('transient');
  });

  // The message is kept on the delivery (shown to viewers) and logged: it must not quote the
  // request, whose query string holds the phone, the holder's variables and the renewal token.
  it.each([['a dropped connection', 'drop' as const], ['a time-out', { lateMs: 3_000 }]])(
    'keeps the request out of the message of %s',
    async (_name, fault) => {
      aliyun.queueFaults(fault);
      const error = await refusal(client.sendSms(request));
      expect(error.message).not.toMatch(/13812345678|abc123|JY14112240001|PhoneNumbers|TemplateParam|%E9/);
      expect(error.message.length).toBeGreaterThan(0);
    },
  );

  it('answers the real validation of the fake as Alibaba Cloud would: an unknown template is SMS_TEMPLATE_ILLEGAL, a wrong number MOBILE_NUMBER_ILLEGAL', async () => {
    expect(await refusal(client.sendSms({ ...request, templateCode: 'SMS_999' }))).toMatchObject({ code: 'isv.SMS_TEMPLATE_ILLEGAL', errorClass: 'permanent' });
    expect(await refusal(client.sendSms({ ...request, phone: '1381234' }))).toMatchObject({ code: 'isv.MOBILE_NUMBER_ILLEGAL', errorClass: 'permanent' });
    expect(await refusal(client.sendSms({ ...request, templateParam: { name: 'x' } }))).toMatchObject({ code: 'isv.TEMPLATE_MISSING_PARAMETERS' });
  });

  it("QuerySendDetails lists a phone's SMS of a day with their OutId and status", async () => {
    const { bizId } = await client.sendSms({ ...request, phone: '13900001111', outId: '77' });
    aliyun.setStatus(bizId!, 3);
    const day = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10).replaceAll('-', '');
    const { totalCount, details } = await client.querySendDetails({ phone: '13900001111', sendDate: day });
    expect(totalCount).toBe(1);
    expect(details[0]).toMatchObject({ phone: '13900001111', outId: '77', sendStatus: 3, errCode: 'DELIVERED', templateCode: 'SMS_100000001' });
    expect(aliyun.lookUps().at(-1)!.get('SendDate')).toBe(day);
  });
});

describe('provider ids', () => {
  it('tells a BizId from the id of a send found by its OutId', () => {
    expect(bizIdOf('900619746936498440')).toBe('900619746936498440');
    expect(foundByOutId(42)).toBe('outid:42');
    expect(bizIdOf(foundByOutId(42))).toBeNull();
  });
});
