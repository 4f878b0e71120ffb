import type { SmsSettings } from '@lr/config';
import { isPermanentStatus, ProviderError } from '@lr/delivery';
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';

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

export interface SmsSender {
  send(to: string, body: string): Promise<{ providerMessageId: string | null }>;
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
    async send(to, body) {
      try {
        const message = await client.messages.create({ ...sender, to, body, statusCallback });
        return { providerMessageId: message.sid };
      } catch (error) {
        classify(error);
      }
    },
  };
}
