/**
 * The package as a user gets it: packs it, installs the tarball into an empty
 * project (its dependencies come from the npm registry), then runs the
 * command line, an ESM import and a type check of a consumer file against
 * the installed types, with this repository's own TypeScript.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TSC = createRequire(join(ROOT, 'package.json')).resolve('typescript/bin/tsc');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, npm_config_update_notifier: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function ok(cmd: string, args: string[], cwd: string): Promise<string> {
  const r = await run(cmd, args, cwd);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

const CONSUMER_TS = `import { RelayError, hostfs, hostfsCallbacks, relayClose, relayOpen, relayWrite, type RelayChannel, type RelayErrorCode } from 'relayfs';
import { BufferMemory } from 'relayfs/buffer';

const chan: RelayChannel<{ app: string }> = relayOpen('cpu', hostfs.createDir('typed'), 4096, 4, hostfsCallbacks(), { app: 'x' }, { buffers: 1 });
const accepted: boolean = relayWrite(chan, new Uint8Array(8));
const code: RelayErrorCode = new RelayError('ERELAY_CLOSED', 'example').code;
const memory: typeof BufferMemory = BufferMemory;
relayClose(chan);
export { accepted, code, memory };
`;

const CHECK_MJS = `import { RelayError, hostfs, hostfsCallbacks, klog, registerKlogHandler, relayClose, relayOpen } from 'relayfs';
import { BufferMemory } from 'relayfs/buffer';
const dir = hostfs.createDir('installed');
const chan = relayOpen('cpu', dir, 4096, 4, hostfsCallbacks(), undefined, { buffers: 1 });
registerKlogHandler(chan);
klog('hello %s', 'installed');
const file = await hostfs.open('/installed/cpu0');
const bytes = file.read();
file.close();
relayClose(chan);
if (!(bytes.length > 32) || typeof BufferMemory !== 'function') process.exit(1);
try { relayOpen('', dir, 4096, 4, hostfsCallbacks()); } catch (err) { console.log(err instanceof RelayError ? err.code : 'not a RelayError'); }
`;

test('the packed package installs into an empty project: command line, ESM import, types', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-install-'));
  try {
    // The suite runs after `npm run build`: pack what is built (prepack builds when a person packs).
    const [packed] = JSON.parse(await ok('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT)) as { filename: string; files: { path: string }[] }[];
    const files = new Set(packed!.files.map((f) => f.path));
    for (const f of ['LICENSE', 'CHANGELOG.md', 'README.md', 'package.json', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js'])
      assert.ok(files.has(f), `${f} is shipped`);
    assert.deepEqual(
      [...files].filter((f) => /^dist\/(test|bench)\//.test(f)),
      [],
      'no tests or benchmarks in the package',
    );
    // Every relative link of the README points at a file in the package.
    const links = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/\]\(([^)#\s]+)\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l));
    assert.deepEqual(
      links.filter((l) => !files.has(l)),
      [],
      'README links to files that are not shipped',
    );

    const project = join(dir, 'project');
    await ok('mkdir', [project], dir);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
    await ok('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, packed!.filename)], project);

    const help = await ok('npx', ['relayfs', '--help'], project);
    assert.match(help, /^Usage: relayfs /);
    assert.match(help, /^ {2}demo /m);
    assert.doesNotMatch(help, /^ {2}bench /m, 'bench is only offered in a clone, where the benchmarks are');

    const demo = await ok('npx', ['relayfs', 'demo', '--duration', '0.5', '--workers', '2', '--no-trace'], project);
    assert.match(demo, /^verified: /m);

    writeFileSync(join(project, 'check.mjs'), CHECK_MJS);
    assert.equal((await ok(process.execPath, ['check.mjs'], project)).trim(), 'ERELAY_INVALID_ARG');

    writeFileSync(join(project, 'consumer.ts'), CONSUMER_TS);
    const tsconfig = {
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules/@types')],
      },
      files: ['consumer.ts'],
    };
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(tsconfig));
    await ok(process.execPath, [TSC, '-p', 'tsconfig.json'], project);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
