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
 * Fields of PostgreSQL's errors (and some drivers') that quote a row or a statement's values:
 * `detail` ("Failing row contains (…, 张三丰, +86…)"), `where`, `internalQuery`, `parameters`.
 * Names are not masked as phones are, so these never reach the log; the message, code,
 * table, column and constraint say enough to find the fault.
 */
const ROW_DATA_FIELDS = ['detail', 'where', 'internalQuery', 'parameters'];

function withoutRowData(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => withoutRowData(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => !ROW_DATA_FIELDS.includes(key))
      .map(([key, v]) => [key, withoutRowData(v, depth + 1)]),
  );
}

/** pino's error serializer, then without the fields that quote rows, in nested errors too. */
function serializeError(error: Error): unknown {
  return withoutRowData(pino.stdSerializers.err(error));
}

/**
 * LOG_FORMAT: `json`, one JSON line per event; `pretty`, one readable line; `auto`, pretty when
 * written to a terminal and JSON otherwise (a terminal attached to a container, `docker run
 * -t`, is a terminal too: a deployment that collects logs says `json`).
 */
export type LogFormat = 'auto' | 'json' | 'pretty';

/**
 * A log in `format`. Every line is masked as it is written, whatever field or message a phone
 * or id number hides in (request URLs, errors, provider replies): personal data never reaches
 * the log unmasked. Without a `destination` the log goes to stdout.
 */
export function createLogger(name: string, level = 'info', destination?: DestinationStream, format: LogFormat = 'auto'): Logger {
  const out = destination ?? pino.destination({ dest: 1, sync: true });
  const pretty = format === 'pretty' || (format === 'auto' && isTerminal(destination ?? process.stdout)) ? prettyLines() : undefined;
  return pino(
    {
      name,
      level,
      base: { service: name },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: serializeError },
    },
    { write: (line: string) => out.write(pretty ? pretty(maskText(line)) : maskText(line)) },
  );
}

/** A service's log on stdout, as its configuration says: LOG_LEVEL and LOG_FORMAT. */
export function serviceLogger(name: string, config: { logLevel: string; logFormat: LogFormat }): Logger {
  return createLogger(name, config.logLevel, undefined, config.logFormat);
}
