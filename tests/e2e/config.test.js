// Configuration from the environment: validation, --check-config, --version, --help.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VERSION, runBinary, startServer } from './lib/server.js';

function expectBadConfig(env, name, value) {
  const r = runBinary([], env, { timeoutMs: 10000 });
  const out = `exit ${r.code} signal ${r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  assert.equal(r.signal, null, `killed (did not exit by itself within 10 s?)\n${out}`);
  assert.notEqual(r.code, 0, `exits non-zero\n${out}`);
  assert.ok(r.ms < 5000, `exits quickly (${r.ms} ms)`);
  assert.ok(r.stderr.includes(name), `stderr names ${name}\n${out}`);
  assert.ok(r.stderr.includes(value), `stderr names the value ${value}\n${out}`);
}

describe('config validation', () => {
  it('PORT=abc', () => expectBadConfig({ PORT: 'abc' }, 'PORT', 'abc'));
  it('PORT=70000', () => expectBadConfig({ PORT: '70000' }, 'PORT', '70000'));
  it('LOG_LEVEL=LOUD', () => expectBadConfig({ LOG_LEVEL: 'LOUD' }, 'LOG_LEVEL', 'LOUD'));
  it('DB_DUCKDB_THREADS=99', () => expectBadConfig({ DB_DUCKDB_THREADS: '99' }, 'DB_DUCKDB_THREADS', '99'));
  it('DEBUG=maybe', () => expectBadConfig({ DEBUG: 'maybe' }, 'DEBUG', 'maybe'));
  it('WORKER_THREADS=0', () => expectBadConfig({ WORKER_THREADS: '0' }, 'WORKER_THREADS', '0'));

  it('several bad variables are all named', () => {
    const r = runBinary([], { PORT: 'abc', LOG_LEVEL: 'LOUD' });
    assert.notEqual(r.code, 0);
    assert.ok(r.stderr.includes('PORT') && r.stderr.includes('LOG_LEVEL'), r.stderr);
  });

  it('--check-config exits 0 on a valid config', () => {
    const r = runBinary(['--check-config'], { LOG_LEVEL: 'DEBUG' });
    assert.equal(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  });

  it('--check-config exits non-zero on an invalid config, naming it', () => {
    const r = runBinary(['--check-config'], { PORT: 'abc' });
    assert.notEqual(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.equal(r.signal, null);
    assert.ok((r.stderr + r.stdout).includes('PORT'), r.stderr);
  });

  it('--check-config does not start a server', () => {
    const r = runBinary(['--check-config'], {}, { timeoutMs: 10000 });
    assert.equal(r.signal, null, 'did not hang');
    assert.ok(r.ms < 5000, `took ${r.ms} ms`);
  });

  it('--version prints the version', () => {
    const r = runBinary(['--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(VERSION), `stdout: ${r.stdout}`);
  });

  it('--help exits 0 and prints usage', () => {
    const r = runBinary(['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((r.stdout + r.stderr).trim().length > 0, 'prints something');
    assert.ok((r.stdout + r.stderr).includes('--check-config'), `mentions --check-config:\n${r.stdout}`);
  });

  it('an unknown option exits non-zero', () => {
    const r = runBinary(['--no-such-option']);
    assert.equal(r.signal, null);
    assert.notEqual(r.code, 0, r.stdout + r.stderr);
  });
});

describe('config values take effect', () => {
  it('LOG_LEVEL=error (any case) silences INFO and DEBUG lines', async (t) => {
    const srv = await startServer({ LOG_LEVEL: 'error', LOG_ACCESS: 'true' });
    t.after(() => srv.kill());
    await fetch(srv.url('/'));
    await new Promise((r) => setTimeout(r, 300));
    const levels = srv.jsonLogs().map((l) => String(l.level).toUpperCase());
    const res = await srv.stop();
    srv.assertSanitizerClean();
    assert.equal(res.code, 0, srv.tail());
    const low = levels.filter((l) => l === 'INFO' || l === 'DEBUG');
    assert.deepEqual(low, [], `no INFO/DEBUG lines at LOG_LEVEL=error:\n${srv.tail(20)}`);
  });

  it('ENV_FILE supplies values the environment leaves unset', async (t) => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dlb-envfile-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'test.env');
    fs.writeFileSync(file, '# comment\nAPP_NAME="From Env File"\n');
    const srv = await startServer({ ENV_FILE: file, APP_NAME: undefined });
    t.after(() => srv.kill());
    const r = await (await fetch(srv.url('/'))).json();
    await srv.stop();
    srv.assertSanitizerClean();
    assert.equal(r.service, 'From Env File');
  });
});
