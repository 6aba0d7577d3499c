// GET /, the health endpoints, and which metadata backend is in use.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ASAN, BACKEND, VERSION, fetchJson, request, startServer, stopsCleanly, useServer } from './lib/server.js';

describe('root and health', () => {
  const ctx = useServer();

  it('GET / describes the service', async () => {
    const r = await fetchJson(ctx.server.url('/'));
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type') || '', /^application\/json/);
    assert.equal(r.json.service, 'DuckLake API');
    assert.equal(r.json.version, VERSION);
    assert.equal(typeof r.json.description, 'string');
    assert.equal(typeof r.json.environment, 'string');
    assert.ok(r.json.links && typeof r.json.links === 'object' && !Array.isArray(r.json.links), 'links is an object');
    assert.equal(typeof r.json.links.health, 'string', 'links.health');
    assert.ok(r.json.links.health.startsWith('/'), `links.health is a path: ${r.json.links.health}`);
    for (const [k, v] of Object.entries(r.json.links)) assert.equal(typeof v, 'string', `links.${k}`);
  });

  it('GET /health reports every check healthy', async () => {
    const r = await fetchJson(ctx.server.url('/health'));
    assert.equal(r.status, 200, r.text);
    const h = r.json;
    assert.equal(h.status, 'healthy');
    assert.equal(h.version, VERSION);
    assert.equal(typeof h.uptime_seconds, 'number');
    assert.ok(h.uptime_seconds >= 0);
    assert.ok(h.timestamp !== undefined && h.timestamp !== null, 'timestamp');
    assert.ok(h.checks && typeof h.checks === 'object', 'checks');
    assert.equal(h.checks.metadata_db?.status, 'healthy', JSON.stringify(h.checks.metadata_db));
    assert.equal(h.checks.duckdb?.status, 'healthy', JSON.stringify(h.checks.duckdb));
    const wp = h.checks.worker_pool;
    assert.equal(wp?.status, 'healthy', JSON.stringify(wp));
    for (const k of ['threads', 'queue_depth', 'queue_capacity', 'busy'])
      assert.equal(typeof wp[k], 'number', `worker_pool.${k} is a number: ${JSON.stringify(wp)}`);
    assert.ok(wp.threads >= 1);
    assert.ok(wp.queue_capacity >= 1);
  });

  it(`GET /health names the metadata backend (${BACKEND})`, async () => {
    const r = await fetchJson(ctx.server.url('/health'));
    assert.equal(r.json?.checks?.metadata_db?.backend, BACKEND, r.text);
  });

  it('GET /health/live answers alive', async () => {
    const r = await fetchJson(ctx.server.url('/health/live'));
    assert.equal(r.status, 200);
    assert.deepEqual(r.json && { status: r.json.status }, { status: 'alive' });
  });

  it('GET /health/ready answers ready', async () => {
    const r = await fetchJson(ctx.server.url('/health/ready'));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json?.status, 'ready');
  });

  it('HEAD /health answers 200 without a body', async () => {
    const r = await request(ctx.server.url('/health/live'), { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
  });

  it('uptime grows', async () => {
    const a = (await fetchJson(ctx.server.url('/health'))).json.uptime_seconds;
    await new Promise((r) => setTimeout(r, 1100));
    const b = (await fetchJson(ctx.server.url('/health'))).json.uptime_seconds;
    assert.ok(b > a, `uptime ${a} then ${b}`);
  });

  stopsCleanly(ctx);
});

describe('APP_NAME', () => {
  const ctx = useServer({ APP_NAME: 'Lake Test Service' });

  it('GET / shows APP_NAME as the service', async () => {
    const r = await fetchJson(ctx.server.url('/'));
    assert.equal(r.status, 200);
    assert.equal(r.json.service, 'Lake Test Service');
  });

  stopsCleanly(ctx);
});

describe('start-up time', () => {
  it('answers GET /health with 200 within 2 s of the process start', async () => {
    const t0 = performance.now();
    const server = await startServer();
    try {
      const r = await fetchJson(server.url('/health'));
      const ms = performance.now() - t0;
      assert.equal(r.status, 200, r.text);
      // ASan builds start several times slower; the promise is about release builds.
      assert.ok(ms < (ASAN ? 10000 : 2000), `GET /health answered ${ms.toFixed(0)} ms after spawn`);
    } finally {
      const { code } = await server.stop();
      assert.equal(code, 0);
    }
  });
});
