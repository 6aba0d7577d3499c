// The debug routes: present only with DEBUG=true; /debug/echo validation, /debug/sleep.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeRows } from './lib/data.js';
import { expectError, fetchJson, stopsCleanly, useServer } from './lib/server.js';


describe('debug routes without DEBUG', () => {
  const ctx = useServer({ DEBUG: 'false' });

  it('POST /debug/echo is 404', async () => {
    const r = await fetchJson(ctx.server.url('/debug/echo'), { method: 'POST', json: { rows: [] } });
    expectError(assert, r, 404, 'not_found');
  });

  it('GET /debug/sleep and /debug/stream are 404', async () => {
    expectError(assert, await fetchJson(ctx.server.url('/debug/sleep?ms=1')), 404, 'not_found');
    expectError(assert, await fetchJson(ctx.server.url('/debug/stream?chunks=1&size=1')), 404, 'not_found');
  });

  stopsCleanly(ctx);
});

describe('debug routes with DEBUG=true', () => {
  const ctx = useServer({ DEBUG: 'true' });
  const echo = (body, q = '') =>
    fetchJson(ctx.server.url(`/debug/echo${q}`), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('POST /debug/echo counts the rows', async () => {
    const r = await echo({ rows: makeRows(5) });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type') || '', /^application\/json/);
    assert.equal(r.json.rows, 5);
    assert.equal(r.json.data, undefined, 'no data without ?echo=true');
  });

  it('POST /debug/echo with no rows', async () => {
    const r = await echo({ rows: [] });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.rows, 0);
  });

  it('POST /debug/echo?echo=true returns the rows', async () => {
    const rows = makeRows(7);
    rows[3].name = 'unicode ✓ "quoted" \\ back\nslash';
    rows[4].tags = [];
    rows[5].value = -12345678.25;
    const r = await echo({ rows }, '?echo=true');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.rows, 7);
    assert.deepEqual(r.json.data, rows);
  });

  it('a float is accepted as value, an int as value', async () => {
    const rows = makeRows(2);
    rows[0].value = 3;
    rows[1].value = 0.125;
    const r = await echo({ rows }, '?echo=true');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.data.map((x) => x.value), [3, 0.125]);
  });

  it('a wrong type: 422 validation_error naming the row and the field', async () => {
    const cases = [
      [3, 'value', 'not a number'],
      [0, 'id', 'seven'],
      [1, 'id', 1.5],
      [2, 'name', 42],
      [4, 'active', 'yes'],
      [5, 'tags', 'a,b'],
      [6, 'created_at', 12345],
    ];
    for (const [idx, field, bad] of cases) {
      const rows = makeRows(8);
      rows[idx][field] = bad;
      const r = await echo({ rows });
      const b = expectError(assert, r, 422, 'validation_error');
      assert.ok(b.detail.includes(`rows[${idx}].${field}`), `detail names rows[${idx}].${field}: ${b.detail}`);
    }
  });

  it('a wrong element type inside tags: 422', async () => {
    const rows = makeRows(3);
    rows[2].tags = ['ok', 7];
    const b = expectError(assert, await echo({ rows }), 422, 'validation_error');
    assert.ok(b.detail.includes('rows[2].tags'), b.detail);
  });

  it('a row that is not an object: 422', async () => {
    const rows = makeRows(2);
    rows[1] = 'row';
    const b = expectError(assert, await echo({ rows }), 422, 'validation_error');
    assert.ok(b.detail.includes('rows[1]'), b.detail);
  });

  it('a body that is an array, or an object without a rows array: 422', async () => {
    for (const body of [[], [{ id: 1 }], {}, { rows: 5 }, { rows: { id: 1 } }, { data: [] }]) {
      const r = await echo(body);
      expectError(assert, r, 422, 'validation_error');
    }
  });

  it('a body that is valid JSON but a scalar (null, "rows", 42): 422, not invalid_json', async () => {
    // RFC 8259 JSON texts; they parse, they are just not an object.
    for (const body of ['null', '"rows"', '42', 'true']) {
      const r = await echo(body);
      expectError(assert, r, 422, 'validation_error');
    }
  });

  it('GET /debug/sleep?ms=N sleeps N ms', async () => {
    const t0 = Date.now();
    const r = await fetchJson(ctx.server.url('/debug/sleep?ms=300'));
    const took = Date.now() - t0;
    assert.equal(r.status, 200, r.text);
    assert.deepEqual({ slept_ms: r.json.slept_ms }, { slept_ms: 300 });
    assert.ok(took >= 290, `took ${took} ms`);
    assert.ok(took < 3000, `took ${took} ms`);
  });

  it('GET /debug/sleep?ms=0', async () => {
    const r = await fetchJson(ctx.server.url('/debug/sleep?ms=0'));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.slept_ms, 0);
  });

  it('GET /debug/sleep with ms out of 0..30000 or not a number: 4xx error', async () => {
    for (const q of ['ms=-1', 'ms=30001', 'ms=abc', 'ms=99999999999999999999']) {
      const r = await fetchJson(ctx.server.url(`/debug/sleep?${q}`), { timeoutMs: 5000 });
      assert.ok([400, 422].includes(r.status), `${q}: status ${r.status} ${r.text}`);
      assert.equal(typeof r.json?.error, 'string', `${q}: ${r.text}`);
      assert.equal(r.json.request_id, r.headers.get('x-request-id'));
    }
  });

  stopsCleanly(ctx);
});
