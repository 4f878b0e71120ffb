import { maskText } from '@lr/domain';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * One JSON line per event. Every line is masked as it is written, whatever field or
 * message a phone or id number hides in (request URLs, errors, provider replies):
 * personal data never reaches the log unmasked.
 */
export function createLogger(name: string, level = 'info', destination?: DestinationStream): Logger {
  const out = destination ?? pino.destination({ dest: 1, sync: true });
  return pino(
    {
      name,
      level,
      base: { service: name },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    { write: (line: string) => out.write(maskText(line)) },
  );
}
