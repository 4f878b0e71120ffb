import { maskText } from '@lr/domain';
import { pino, type DestinationStream, type Logger } from 'pino';
import PinoPretty from 'pino-pretty';

export type { Logger } from 'pino';

/** A stream written to a terminal: Node's tty streams say so. */
function isTerminal(stream: unknown): boolean {
  return (stream as { isTTY?: unknown }).isTTY === true;
}

/**
 * Readable lines for a person at a terminal: time, level, service, message, then the fields.
 * Made in-process and synchronously, from the line already masked.
 */
function prettyLines(): (json: string) => string {
  return PinoPretty.prettyFactory({
    colorize: PinoPretty.isColorSupported,
    translateTime: 'SYS:HH:MM:ss.l',
    // One line per event, its fields after the message: four services share the terminal.
    singleLine: true,
    // `name` already shows the service.
    ignore: 'pid,hostname,service',
  });
}

/**
 * One JSON line per event; in a terminal, one readable line (pino-pretty) instead. Every line
 * is masked as it is written, whatever field or message a phone or id number hides in
 * (request URLs, errors, provider replies): personal data never reaches the log unmasked.
 * Without a `destination` the log goes to stdout.
 */
export function createLogger(name: string, level = 'info', destination?: DestinationStream): Logger {
  const out = destination ?? pino.destination({ dest: 1, sync: true });
  const pretty = isTerminal(destination ?? process.stdout) ? prettyLines() : undefined;
  return pino(
    {
      name,
      level,
      base: { service: name },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    { write: (line: string) => out.write(pretty ? pretty(maskText(line)) : maskText(line)) },
  );
}
