import type { Logger } from 'pino';

/**
 * Starts a service. A configuration error stops it with one line naming the variable
 * (docs/configuration.md); SIGTERM and SIGINT run `stop` once (stop taking work, finish or
 * hand back in-flight jobs, close pools), with a deadline so a stuck close cannot hang.
 */
export async function runService(
  name: string,
  start: () => Promise<{ log: Logger; stop: () => Promise<void> }>,
  deadlineMs = 25_000,
): Promise<void> {
  let service: Awaited<ReturnType<typeof start>>;
  try {
    service = await start();
  } catch (error) {
    const err = error as Error;
    process.stderr.write(
      err?.name === 'ConfigError' ? `${name}: configuration error: ${err.message}\n` : `${name}: failed to start: ${err?.stack ?? err}\n`,
    );
    process.exit(err?.name === 'ConfigError' ? 78 : 1);
  }
  const { log, stop } = service;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    setTimeout(() => {
      log.error({ deadlineMs }, 'shutdown took too long; exiting');
      process.exit(1);
    }, deadlineMs).unref();
    stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}
