import { ProviderError } from '@lr/delivery';
import { nextLocalMidnight } from '@lr/domain';

/**
 * Alibaba Cloud SMS's answers, sorted into the classes the service acts on
 * (docs/aliyun.md, "What Alibaba Cloud's codes mean"). The one place that knows what a code means: the sender
 * acts on the class, the operator's view shows the meaning.
 */
export type AliyunErrorClass =
  /** the message fails after this one call, with the code */
  | 'permanent'
  /** the carrier's per-number frequency limit: the message is held and tried again in an hour */
  | 'hold_hour'
  /** the number's daily limit at the carrier: held until the next local day */
  | 'hold_day'
  /** throttling, 5xx, time-outs, dropped connections: retried with backoff */
  | 'transient'
  /** the account cannot send at all (balance, suspension, credentials): no message fails, sending pauses */
  | 'account';

interface Known {
  class: AliyunErrorClass;
  /** what it means, in words an operator acts on */
  meaning: string;
}

/** The codes the contract names, with their class and meaning. */
export const ALIYUN_ERRORS: Readonly<Record<string, Known>> = {
  'isv.MOBILE_NUMBER_ILLEGAL': { class: 'permanent', meaning: 'the phone number is not a valid mainland mobile number' },
  'isv.TEMPLATE_MISSING_PARAMETERS': { class: 'permanent', meaning: "the template's variables were not all given (check the category's aliyunTemplateParams)" },
  'isv.INVALID_PARAMETERS': { class: 'permanent', meaning: 'Alibaba Cloud refused a parameter of the request as invalid' },
  'isv.SMS_TEMPLATE_ILLEGAL': { class: 'permanent', meaning: 'the template code is unknown or not approved for this account (check aliyunTemplateCode)' },
  'isv.SMS_SIGNATURE_ILLEGAL': { class: 'permanent', meaning: 'the signature is unknown or not approved (check ALIYUN_SMS_SIGN_NAME)' },
  'isv.BLACK_KEY_CONTROL_LIMIT': { class: 'permanent', meaning: 'the text contains a word the carriers block' },
  'isv.BUSINESS_LIMIT_CONTROL': { class: 'hold_hour', meaning: "the carrier's frequency limit for this number was reached: tried again in an hour" },
  'isv.DAY_LIMIT_CONTROL': { class: 'hold_day', meaning: "this number's daily limit was reached: tried again the next day" },
  'isv.AMOUNT_NOT_ENOUGH': { class: 'account', meaning: "the Alibaba Cloud account's balance is too low: sending is paused until it is topped up" },
  'isv.OUT_OF_SERVICE': { class: 'account', meaning: 'the Alibaba Cloud account is suspended (overdue): sending is paused until it is restored' },
  SignatureDoesNotMatch: { class: 'account', meaning: 'the request signature was refused: ALIYUN_ACCESS_KEY_SECRET is wrong; sending is paused' },
  'InvalidAccessKeyId.NotFound': { class: 'account', meaning: 'ALIYUN_ACCESS_KEY_ID is unknown to Alibaba Cloud; sending is paused' },
};

/**
 * The class of an answer's code, with the HTTP status it came with (200 for a `Code` in an
 * answer the SDK returned). Unknown codes fall back on the status: 5xx and 429 transient,
 * another 4xx permanent (a request Alibaba Cloud will not take as it is), as for Twilio.
 */
export function classifyAliyunCode(code: string, httpStatus = 200): AliyunErrorClass {
  const known = ALIYUN_ERRORS[code];
  if (known) return known.class;
  if (code.startsWith('Throttling')) return 'transient';
  if (code.startsWith('InvalidAccessKeyId') || code.startsWith('Forbidden.RAM') || code === 'InvalidAccessKeySecret') return 'account';
  if (httpStatus >= 500 || httpStatus === 429 || httpStatus === 408) return 'transient';
  return 'permanent';
}

/** An Aliyun error code's meaning for the operator (the delivery's errorMessage), or undefined for codes the contract does not name. */
export function aliyunErrorMeaning(code: string): string | undefined {
  return ALIYUN_ERRORS[code]?.meaning;
}

/** What Alibaba Cloud (or the way to it) answered instead of taking the request. */
export class AliyunSmsError extends Error {
  constructor(
    readonly errorClass: AliyunErrorClass,
    readonly code: string,
    message: string,
    /** the HTTP status, when an answer came */
    readonly httpStatus?: number,
  ) {
    super(message);
    this.name = 'AliyunSmsError';
  }
}

/** How long the carrier's per-number frequency limit (isv.BUSINESS_LIMIT_CONTROL) holds a message. */
const FREQUENCY_HOLD_MS = 3_600_000;

/**
 * Alibaba Cloud's answer as the delivery acts on it (its class):
 * permanent fails the message; the carrier's limits hold it (an hour; to the next local day);
 * transient retries it with backoff; an account that cannot send pauses sending and fails
 * nothing. The message is the code's meaning where known, for the operator.
 */
export function aliyunProviderError(error: AliyunSmsError, timezone: string, now: Date): ProviderError {
  const meaning = aliyunErrorMeaning(error.code);
  const message = meaning ? `${meaning} (${error.message})` : error.message;
  switch (error.errorClass) {
    case 'permanent':
      return new ProviderError(true, error.code, message);
    case 'hold_hour':
      return new ProviderError(false, error.code, message, { hold: new Date(now.getTime() + FREQUENCY_HOLD_MS) });
    case 'hold_day':
      return new ProviderError(false, error.code, message, { hold: nextLocalMidnight(timezone, now) });
    case 'account':
      return new ProviderError(false, error.code, message, { pause: true });
    case 'transient':
    default:
      return new ProviderError(false, error.code, message);
  }
}

