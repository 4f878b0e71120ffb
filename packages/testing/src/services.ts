import { existsSync } from 'node:fs';

export interface TestServices {
  /** a server URL; test databases are created on it */
  postgresUrl: string;
  redisUrl: string;
  templateDatabase: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    testServices: TestServices;
  }
}

/** Where a Docker engine answers, tests run on containers; otherwise on the services already running. */
export function dockerEngineLikely(): boolean {
  return Boolean(process.env.DOCKER_HOST) || existsSync('/var/run/docker.sock');
}

export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}
