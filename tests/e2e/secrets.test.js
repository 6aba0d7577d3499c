// Secrets never show: not in logs (stdout/stderr), not in any response body.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { makeRows } from './lib/data.js';
import { BACKEND, fetchJson, request, runBinary, useServer } from './lib/server.js';

const tag = randomBytes(6).toString('hex');
const SECRETS = {
  STORAGE_MINIO_SECRET_KEY: `minio-Secret-${tag}-xyzzy`,
  MONITORING_OPENLINEAGE_API_KEY: `ol-ApiKey-${tag}-plugh`,
};
// In sqlite mode the PostgreSQL password is unused and can be set freely; in postgres mode
// the real one is needed to connect, and it is checked below instead.
if (BACKEND === 'sqlite') SECRETS.DB_POSTGRES_PASSWORD = `pg-Passw0rd-${tag}-frotz`;

function secretValues() {
  const vals = Object.entries(SECRETS).map(([k, v]) => [k, v]);
  const real = process.env.DB_POSTGRES_PASSWORD;
  if (BACKEND === 'postgres' && real) {
    // A password that is also the user or database name (or very short) cannot be told apart
    // from them in the output; pg.sh is expected to use a random one.
    if (real.length >= 6 && real !== process.env.DB_POSTGRES_USER && real !== process.env.DB_POSTGRES_DB)
      vals.push(['DB_POSTGRES_PASSWORD (real)', real]);
  }
  return vals;
}

function assertNoSecrets(text, where) {
  for (const [name, v] of secretValues()) {
    assert.ok(!text.includes(v), `${where} contains the value of ${name}`);
  }
}

describe('secrets', () => {
  // mayExit: the last test stops the server itself, to check the shutdown output too.
  const ctx = useServer({ ...SECRETS, DEBUG: 'true', LOG_LEVEL: 'DEBUG', LOG_ACCESS: 'true' }, { mayExit: true });
  const bodies = [];

  it('requests of all kinds leak no secret in their answers', async () => {
    const s = ctx.server;
    const root = await fetchJson(s.url('/'));
    bodies.push(['GET /', root.text]);
    // Event streams never end (samplers keep them busy): they are not plain answers to read.
    const links = Object.values(root.json?.links || {}).filter(
      (p) => typeof p === 'string' && p.startsWith('/') && !p.startsWith('/events/')
    );
    const paths = new Set(['/', '/health', '/health/live', '/health/ready', '/no/such', ...links]);
    for (const p of paths) {
      const r = await request(s.url(p), { timeout: 10000 });
      bodies.push([`GET ${p}`, `${JSON.stringify(r.headers)}\n${r.text}`]);
    }
    const reqs = [
      ['DELETE', '/health', undefined],
      ['POST', '/debug/echo?echo=true', JSON.stringify({ rows: makeRows(3) })],
      ['POST', '/debug/echo', '{"rows": [1,'],
      ['POST', '/debug/echo', JSON.stringify({ rows: [{ id: 'x' }] })],
      ['GET', '/debug/sleep?ms=1', undefined],
    ];
    for (const [method, p, body] of reqs) {
      const r = await request(s.url(p), { method, body, headers: body ? { 'content-type': 'application/json' } : {} });
      bodies.push([`${method} ${p}`, `${JSON.stringify(r.headers)}\n${r.text}`]);
    }
    for (const [what, text] of bodies) assertNoSecrets(text, `response to ${what}`);
  });

  it('no log line holds a secret', async () => {
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(ctx.server.logs().length > 0, 'the server logged something');
    for (const l of ctx.server.logs()) assertNoSecrets(l.text, `[${l.stream}] log line ${l.text.slice(0, 200)}`);
  });

  it('--check-config, --help and a config error show no secret', () => {
    for (const [args, env] of [
      [['--check-config'], SECRETS],
      [['--help'], SECRETS],
      [[], { ...SECRETS, PORT: 'abc' }],
      [['--check-config'], { ...SECRETS, LOG_LEVEL: 'LOUD' }],
    ]) {
      const r = runBinary(args, env);
      assertNoSecrets(r.stdout, `stdout of ${args.join(' ') || '(bad config)'}`);
      assertNoSecrets(r.stderr, `stderr of ${args.join(' ') || '(bad config)'}`);
    }
  });

  it('after shutdown, the whole output holds no secret', async () => {
    const res = await ctx.server.stop();
    assert.deepEqual(res, { code: 0, signal: null }, ctx.server.tail());
    for (const l of ctx.server.logs()) assertNoSecrets(l.text, `[${l.stream}] log line ${l.text.slice(0, 200)}`);
  });
});
