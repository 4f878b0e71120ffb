// npm run keys -- create --role admin|operator|viewer --name <text> | list | revoke <id>
// Manages the API keys. A new key is printed once: the database keeps only its hash.
import { parseArgs } from 'node:util';
import { loadConfig } from '@lr/config';
import { connect, createApiKey, listApiKeys, revokeApiKey, type ApiKeyInfo, type Database, type Role } from '@lr/db';

const USAGE = `usage: npm run keys -- <command>
  create --role admin|operator|viewer --name <text>   make a key and print it (once)
  list                                                the keys: id, name, role, created, last used, revoked
  revoke <id>                                         revoke a key (again is harmless)`;

const ROLES: readonly Role[] = ['admin', 'operator', 'viewer'];
const MAX_ID = 2_147_483_647;

class UsageError extends Error {}

type Command = { kind: 'create'; role: Role; name: string } | { kind: 'list' } | { kind: 'revoke'; id: number } | { kind: 'help' };

function parseCommand(argv: string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { role: { type: 'string' }, name: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  const [command, ...rest] = positionals;
  const noOptions = (which: string) => {
    if (values.role !== undefined || values.name !== undefined) throw new UsageError(`${which} takes no --role or --name`);
  };
  switch (command) {
    case 'create': {
      if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}" (quote a name with spaces)`);
      const role = values.role;
      if (role === undefined) throw new UsageError('create needs --role admin|operator|viewer');
      if (!(ROLES as readonly string[]).includes(role)) throw new UsageError(`--role must be admin, operator or viewer, not "${role}"`);
      const name = values.name?.trim() ?? '';
      if (name.length === 0) throw new UsageError('create needs --name <text>, not empty');
      if (name.length > 100) throw new UsageError('--name is at most 100 characters');
      return { kind: 'create', role: role as Role, name };
    }
    case 'list':
      noOptions('list');
      if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
      return { kind: 'list' };
    case 'revoke': {
      noOptions('revoke');
      if (rest.length !== 1) throw new UsageError('revoke needs exactly one key id');
      const text = rest[0]!;
      const id = Number(text);
      if (!/^\d{1,10}$/.test(text) || id < 1 || id > MAX_ID) throw new UsageError(`"${text}" is not a key id`);
      return { kind: 'revoke', id };
    }
    case undefined:
      throw new UsageError('a command is required');
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

const when = (date: Date | null) => (date ? date.toISOString().replace(/\.\d{3}Z$/, 'Z') : '-');

function table(keys: ApiKeyInfo[]): string {
  const rows = [
    ['id', 'name', 'role', 'created', 'last used', 'revoked'],
    ...keys.map((k) => [String(k.id), k.name, k.role, when(k.createdAt), when(k.lastUsedAt), when(k.revokedAt)]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}

/** Runs the command; returns the exit code. */
async function run(db: Database, command: Exclude<Command, { kind: 'help' }>): Promise<number> {
  switch (command.kind) {
    case 'create': {
      const { id, key } = await createApiKey(db, command.name, command.role);
      process.stdout.write(`id:   ${id}\nname: ${command.name}\nrole: ${command.role}\nkey:  ${key}\n`);
      process.stderr.write('Keep the key now: it is not shown again (the database keeps only its hash).\n');
      return 0;
    }
    case 'list': {
      const keys = await listApiKeys(db);
      process.stdout.write(keys.length === 0 ? 'no keys\n' : `${table(keys)}\n`);
      return 0;
    }
    case 'revoke': {
      const revoked = await revokeApiKey(db, command.id);
      if (!revoked) {
        process.stderr.write(`keys: no key with id ${command.id}\n`);
        return 1;
      }
      process.stdout.write(`key ${revoked.id} "${revoked.name}" (${revoked.role}) revoked since ${when(revoked.revokedAt)}\n`);
      return 0;
    }
  }
}

async function main(): Promise<number> {
  let command: Command;
  try {
    command = parseCommand(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`keys: ${error.message}\n${USAGE}\n`);
    return 2;
  }
  if (command.kind === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const config = loadConfig('migrate');
  const database = connect(config.databaseUrl, { max: 1, applicationName: 'keys' });
  try {
    return await run(database.db, command);
  } finally {
    await database.close();
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  process.stderr.write(`keys: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
