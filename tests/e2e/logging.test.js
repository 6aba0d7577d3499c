// Logs: one JSON object per stdout line; an access line per request unless LOG_ACCESS=false.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fetchJson, request, stopsCleanly, useServer } from './lib/server.js';

const isAccess = (rid) => (l) => l.stream === 'stdout' && l.json && l.json.request_id === rid && 'status' in l.json;

function checkLine(j, text) {
  for (const k of ['timestamp', 'level', 'service', 'message'])
    assert.ok(j[k] !== undefined && j[k] !== null && j[k] !== '', `field ${k} in ${text}`);
  assert.equal(typeof j.level, 'string', text);
  assert.equal(typeof j.message, 'string', text);
  if (typeof j.timestamp === 'string') assert.ok(!Number.isNaN(Date.parse(j.timestamp)), `timestamp parses: ${text}`);
}

describe('logging', () => {
  const ctx = useServer({ LOG_ACCESS: 'true', LOG_LEVEL: 'INFO' });

  it('every stdout line is a JSON object with timestamp, level, service, message', async () => {
    await fetchJson(ctx.server.url('/health'));
    const out = ctx.server.logs().filter((l) => l.stream === 'stdout');
    assert.ok(out.length >= 1, 'something was logged at start-up');
    for (const l of out) {
      assert.ok(l.json && typeof l.json === 'object' && !Array.isArray(l.json), `not a JSON object: ${l.text}`);
      checkLine(l.json, l.text);
    }
  });

  it('an access line per request with request_id, method, path, status, duration_ms', async () => {
    const rid = `log-test-${Date.now()}`;
    const r = await fetchJson(ctx.server.url('/health/live'), { headers: { 'X-Request-ID': rid } });
    assert.equal(r.status, 200);
    const line = await ctx.server.waitForLine(isAccess(rid), 3000);
    assert.ok(line, `an access line with request_id ${rid}:\n${ctx.server.tail(10)}`);
    const j = line.json;
    checkLine(j, line.text);
    assert.equal(j.method, 'GET');
    assert.equal(j.path, '/health/live');
    assert.equal(Number(j.status), 200);
    assert.equal(typeof j.duration_ms, 'number', line.text);
    assert.ok(j.duration_ms >= 0, line.text);
    assert.equal(ctx.server.logs().filter(isAccess(rid)).length, 1, 'exactly one access line');
  });

  it('error responses are logged with their status and generated id', async () => {
    const r = await request(ctx.server.url('/missing/thing?x=1'), { method: 'GET' });
    assert.equal(r.status, 404);
    const rid = r.headers['x-request-id'];
    const line = await ctx.server.waitForLine(isAccess(rid), 3000);
    assert.ok(line, `an access line for ${rid}:\n${ctx.server.tail(10)}`);
    assert.equal(Number(line.json.status), 404);
    assert.equal(line.json.path, '/missing/thing', 'path without the query string');
    const d = await request(ctx.server.url('/health'), { method: 'DELETE' });
    const dl = await ctx.server.waitForLine(isAccess(d.headers['x-request-id']), 3000);
    assert.ok(dl, 'access line for the 405');
    assert.equal(dl.json.method, 'DELETE');
    assert.equal(Number(dl.json.status), 405);
  });

  it('the service field is the same on every line', async () => {
    const services = new Set(ctx.server.jsonLogs().map((j) => j.service));
    assert.equal(services.size, 1, [...services].join(', '));
  });

  stopsCleanly(ctx);
});

describe('LOG_ACCESS=false', () => {
  const ctx = useServer({ LOG_ACCESS: 'false' });

  it('no access line', async () => {
    const rid = `quiet-${Date.now()}`;
    const r = await fetchJson(ctx.server.url('/health/live'), { headers: { 'X-Request-ID': rid } });
    assert.equal(r.status, 200);
    const line = await ctx.server.waitForLine((l) => l.text.includes(rid), 700);
    assert.equal(line, null, `unexpected line: ${line?.text}`);
    for (const l of ctx.server.logs().filter((x) => x.stream === 'stdout'))
      assert.ok(l.json, `stdout line is JSON: ${l.text}`);
  });

  stopsCleanly(ctx);
});
