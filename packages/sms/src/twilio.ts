import type { SmsSettings } from '@lr/config';
import type { ReceiptStatus } from '@lr/db';
import { isPermanentStatus, ProviderError, type FoundSend } from '@lr/delivery';
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import type { MessageInstance } from 'twilio/lib/rest/api/v2010/account/message';
import type { SmsReceipt, SmsSender } from './provider';

type TwilioSettings = Extract<SmsSettings, { provider: 'twilio' }>;

const TWILIO_ORIGIN = 'https://api.twilio.com';

/**
 * Twilio's own HTTP client, pointed at TWILIO_API_BASE_URL (a proxy, or a local fake
 * in tests). Retries are left to the queue, which knows the delivery's attempts.
 */
class RebasedRequestClient extends twilio.RequestClient {
  constructor(
    private readonly baseUrl: string,
    timeoutMs: number,
  ) {
    super({ timeout: timeoutMs, keepAlive: true, autoRetry: false });
  }

  override request<TData>(opts: RequestClient.RequestOptions<TData>) {
    const uri = opts.uri.startsWith(TWILIO_ORIGIN) ? this.baseUrl + opts.uri.slice(TWILIO_ORIGIN.length) : opts.uri;
    return super.request<TData>({ ...opts, uri });
  }
}

/**
 * How far before `since` a look-up reaches back: Twilio's dates are whole seconds of
 * Twilio's clock, `since` is PostgreSQL's. A minute covers both; what matches is still
 * this message (its text, to its phone), sent by one of its own tries.
 */
const LOOK_UP_MARGIN_MS = 60_000;
/** The most of a phone's recent messages a look-up reads (a phone gets at most a few SMS a day). */
const LOOK_UP_LIMIT = 200;

/** The statuses that end a Twilio message, as the ledger records them; the others (queued, sent, …) end nothing yet. */
const ENDED: Partial<Record<string, ReceiptStatus>> = {
  delivered: 'delivered',
  read: 'delivered',
  undelivered: 'undelivered',
  failed: 'failed',
};

/**
 * How a Twilio message has ended, from its status and error code, the same whether a status
 * callback says it or the Messages list does; null while it has not ended.
 */
export function twilioReceipt(status: string, errorCode: string | number | null | undefined): SmsReceipt | null {
  const ended = ENDED[status];
  if (!ended) return null;
  const code = errorCode ? String(errorCode) : null;
  return { status: ended, ...(code && { error: { code, message: `Twilio error ${code}` } }) };
}

/** The send a look-up found, with how it ended (if it has) as its status callback would say it. */
function foundSend(message: MessageInstance): FoundSend {
  const receipt = twilioReceipt(message.status, message.errorCode);
  return { providerMessageId: message.sid, ...(receipt && { receipt }) };
}

/** Twilio's code for a recipient who replied STOP: their phone is suppressed for SMS. */
export const UNSUBSCRIBED = '21610';

// Twilio error codes worth a name in the ledger; any other 4xx is permanent too.
const TWILIO_ERRORS: Record<number, string> = {
  21211: 'invalid "To" phone number',
  21408: 'permission to send to this region is not enabled',
  21610: 'recipient has unsubscribed (replied STOP)',
  21614: '"To" number is not a mobile number',
  21635: '"To" number cannot receive this message',
};

function classify(error: unknown): never {
  const e = error as { status?: unknown; code?: unknown; message?: unknown };
  if (typeof e?.status === 'number') {
    const code = typeof e.code === 'number' ? e.code : e.status;
    const meaning = typeof e.code === 'number' ? TWILIO_ERRORS[e.code] : undefined;
    const text = typeof e.message === 'string' ? e.message : `HTTP ${e.status}`;
    throw new ProviderError(isPermanentStatus(e.status), String(code), meaning ?? text);
  }
  throw error; // transport error: asProviderError treats it as transient
}

export function twilioSender(settings: TwilioSettings, statusCallback: string, timeoutMs = 10_000): SmsSender {
  const client = twilio(settings.accountSid, settings.authToken, {
    httpClient: new RebasedRequestClient(settings.apiBaseUrl, timeoutMs),
  });
  const sender = settings.messagingServiceSid ? { messagingServiceSid: settings.messagingServiceSid } : { from: settings.from! };
  return {
    optOutCodes: new Set([UNSUBSCRIBED]),
    async send(to, body) {
      try {
        const message = await client.messages.create({ ...sender, to, body, statusCallback });
        return { providerMessageId: message.sid };
      } catch (error) {
        classify(error);
      }
    },
    /** Twilio's Messages list, filtered by `To` and `DateSent>`, newest first: the outgoing one with this body. */
    async findSent({ to, body, since }) {
      let listed: MessageInstance[];
      try {
        listed = await client.messages.list({ to, dateSentAfter: new Date(since.getTime() - LOOK_UP_MARGIN_MS), pageSize: 50, limit: LOOK_UP_LIMIT });
      } catch (error) {
        classify(error);
      }
      const match = listed.find((m) => m.body === body && m.direction.startsWith('outbound') && m.status !== 'canceled');
      return match ? foundSend(match) : null;
    },
  };
}
