import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Runs a TypeScript script of the repository as its own Node process (so that its CPU time
 * and peak RSS are its own), and reads the JSON of the last line it prints. Ended after
 * five minutes: none takes more than one.
 */
export function runNode<T>(script: string, args: string[], env: Record<string, string> = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    const deadline = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('exit', (code) => {
      clearTimeout(deadline);
      if (code !== 0) return reject(new Error(`${script} ${args.join(' ')} exited with ${code}:\n${err.slice(-3000)}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1)!) as T);
    });
  });
}
