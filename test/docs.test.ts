// The project carries its own documents: nothing in the repository points outside it, every
// relative link of the README and docs/ opens a file (and heading) that exists, and every
// setting the configuration loader reads, or docker-compose.yml passes, is described.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

/** Folders that are not the project's own files (dependencies, local data, build output). */
const NOT_OURS = new Set(['.git', 'node_modules', '.data', 'dist', 'coverage']);

/** Every file of the repository: those git tracks and the new ones it does not ignore; a walk where git is missing. */
function repositoryFiles(): string[] {
  try {
    const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
    return [...new Set(listed.split('\0').filter(Boolean))].filter((file) => existsSync(path.join(ROOT, file)));
  } catch {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
        const file = path.posix.join(dir, entry.name);
        if (entry.isDirectory()) {
          if (!NOT_OURS.has(entry.name)) walk(file);
        } else if (entry.isFile()) {
          files.push(file);
        }
      }
    };
    walk('');
    return files;
  }
}

/** The text of a file, or undefined for a binary one (a NUL byte in it). */
function textOf(file: string): string | undefined {
  const bytes = readFileSync(path.join(ROOT, file));
  return bytes.includes(0) ? undefined : bytes.toString('utf8');
}

// Built from parts, so that this file does not name what it looks for.
const SPEC = ['design', 'contract'].map((name) => `${name}.md`);
const OUTSIDE = [`../${'shared'}`, ...SPEC.map((file) => `${'shared'}/${file}`), ...SPEC];

describe('nothing in the repository points outside it', () => {
  const files = repositoryFiles();

  it('finds the repository’s files', () => {
    expect(files).toContain('README.md');
    expect(files).toContain('packages/config/src/config.ts');
  });

  it(`names no document outside it (${OUTSIDE.join(', ')})`, () => {
    const found: string[] = [];
    for (const file of files) {
      const text = textOf(file);
      if (text === undefined) continue;
      text.split('\n').forEach((line, i) => {
        for (const pointer of OUTSIDE) if (line.includes(pointer)) found.push(`${file}:${i + 1}: ${pointer}`);
      });
    }
    expect(found).toEqual([]);
  });
});

/** The Markdown documents whose links are checked: the README, docs/ and bench/README.md. */
const DOCUMENTS = ['README.md', 'bench/README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** Markdown links `[text](target)`, outside code blocks and code spans. */
function linksOf(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, (span) => ' '.repeat(span.length));
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

/** The anchors of a Markdown file's headings, as GitHub makes them. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = heading!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

describe('the documents’ links', () => {
  it('checks the README and every page of docs/', () => {
    expect(DOCUMENTS).toEqual(expect.arrayContaining(['README.md', 'docs/README.md', 'docs/rules.md', 'docs/api.md', 'docs/configuration.md', 'docs/operations.md']));
  });

  it.each(DOCUMENTS)('%s: every relative link opens a file and heading that exist, inside the repository', (document) => {
    const broken: string[] = [];
    for (const link of linksOf(read(document))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto: …
      const [target, anchor] = link.split('#', 2) as [string, string | undefined];
      const file = target === '' ? document : path.posix.normalize(path.posix.join(path.posix.dirname(document), decodeURI(target)));
      if (file.startsWith('../') || path.posix.isAbsolute(file)) {
        broken.push(`${link}: outside the repository`);
        continue;
      }
      if (!existsSync(path.join(ROOT, file))) {
        broken.push(`${link}: no such file`);
        continue;
      }
      if (anchor !== undefined && statSync(path.join(ROOT, file)).isFile() && file.endsWith('.md') && !anchorsOf(read(file)).has(anchor)) {
        broken.push(`${link}: no heading #${anchor} in ${file}`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe('docs/configuration.md', () => {
  const documented = read('docs/configuration.md');
  const isNamed = (name: string) => new RegExp(`\`${name}\``).test(documented);

  it('names every variable the configuration loader reads', () => {
    const names = new Set([...read('packages/config/src/config.ts').matchAll(/'([A-Z][A-Z0-9_]+)'/g)].map((m) => m[1]!));
    expect(names.size).toBeGreaterThan(20);
    expect([...names].filter((name) => !isNamed(name))).toEqual([]);
  });

  it('names every variable docker-compose.yml takes from the host', () => {
    const names = new Set([...read('docker-compose.yml').matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!));
    expect(names.size).toBeGreaterThan(5);
    expect([...names].filter((name) => !isNamed(name))).toEqual([]);
  });
});
