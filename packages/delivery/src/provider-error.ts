/**
 * What a provider said when it did not take a message. Permanent errors (invalid
 * number, unsubscribed, any other 4xx) fail the delivery at once; transient ones
 * (time-outs, connection errors, 429, 5xx) are retried with backoff.
 */
export class ProviderError extends Error {
  constructor(
    readonly permanent: boolean,
    readonly code: string,
    message: string,
    /**
     * Neither failed nor retried at once: `hold` puts the message back untried until then (a
     * carrier's limit for its number); `pause` is the provider's account unable to send any
     * message (balance, suspension, credentials): no message fails, sending pauses.
     */
    readonly wait?: { hold: Date } | { pause: true },
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

/** HTTP status to error class, the same for every provider. */
export function isPermanentStatus(status: number): boolean {
  return status >= 400 && status < 500 && status !== 429 && status !== 408;
}

/** Anything a provider client threw that is not a ProviderError is a transport problem: retry. */
export function asProviderError(error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  const err = error as { code?: unknown; message?: unknown };
  const code = typeof err?.code === 'string' ? err.code : 'TRANSPORT';
  return new ProviderError(false, code, typeof err?.message === 'string' ? err.message : String(error));
}
