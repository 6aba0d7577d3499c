// Request ids and the JSON error contract: 404, 405, 413, 400 invalid_json.
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { makeRows } from './lib/data.js';
import { expectError, fetchJson, request, stopsCleanly, useServer } from './lib/server.js';

const HEX32 = /^[0-9a-f]{32}$/;

function noAnswer(e) {
  return new Error(`no HTTP response: ${e.code || ''} ${e.message} (the server closed the connection without answering)`);
}

/** request(), turning a connection closed without a response into a clear failure. */
async function answered(url, opts) {
  try {
    return await request(url, opts);
  } catch (e) {
    throw noAnswer(e);
  }
}

describe('X-Request-ID', () => {
  const ctx = useServer();
  const get = (headers) => fetchJson(ctx.server.url('/health/live'), { headers });

  it('a generated 32-hex id when the client sends none', async () => {
    const a = await get({});
    const b = await get({});
    assert.match(a.headers.get('x-request-id') || '', HEX32);
    assert.match(b.headers.get('x-request-id') || '', HEX32);
    assert.notEqual(a.headers.get('x-request-id'), b.headers.get('x-request-id'), 'ids differ');
  });

  it('echoes a valid client id', async () => {
    for (const id of ['abc', 'req-123_x.y:z', 'A'.repeat(128), '0']) {
      const r = await get({ 'X-Request-ID': id });
      assert.equal(r.headers.get('x-request-id'), id, `id ${id.slice(0, 20)}...`);
    }
  });

  it('replaces an id with spaces', async () => {
    const r = await get({ 'X-Request-ID': 'has spaces in it' });
    assert.match(r.headers.get('x-request-id') || '', HEX32);
  });

  it('replaces an id of 200 chars', async () => {
    const r = await get({ 'X-Request-ID': 'a'.repeat(200) });
    assert.match(r.headers.get('x-request-id') || '', HEX32);
  });

  it('replaces an id of 129 chars and ids with other characters', async () => {
    for (const id of ['b'.repeat(129), 'x/y', 'x;y', '{id}', 'ü']) {
      const r = await request(ctx.server.url('/health/live'), { headers: { 'X-Request-ID': id } });
      assert.match(r.headers['x-request-id'] || '', HEX32, `id ${JSON.stringify(id.slice(0, 20))}`);
    }
  });

  it('is on errors too, and in the body', async () => {
    const r = await fetchJson(ctx.server.url('/no/such/path'), { headers: { 'X-Request-ID': 'err-id-1' } });
    const body = expectError(assert, r, 404, 'not_found');
    assert.equal(body.request_id, 'err-id-1');
  });

  stopsCleanly(ctx);
});

describe('errors', () => {
  const ctx = useServer({ DEBUG: 'true', HTTP_MAX_BODY_SIZE: '2048' });

  it('unknown path: 404 not_found', async () => {
    expectError(assert, await fetchJson(ctx.server.url('/definitely/not/here')), 404, 'not_found');
    expectError(assert, await fetchJson(ctx.server.url('/healthz')), 404, 'not_found');
  });

  it('wrong method: 405 method_not_allowed with Allow', async () => {
    const r = await fetchJson(ctx.server.url('/health'), { method: 'DELETE' });
    expectError(assert, r, 405, 'method_not_allowed');
    const allow = (r.headers.get('allow') || '').split(',').map((s) => s.trim().toUpperCase());
    assert.ok(allow.includes('GET'), `Allow: ${r.headers.get('allow')}`);
    assert.ok(allow.includes('HEAD'), `Allow: ${r.headers.get('allow')}`);
    assert.ok(!allow.includes('DELETE'), `Allow: ${r.headers.get('allow')}`);
  });

  it('POST to a GET route: 405; GET to a POST route: 405 with Allow POST', async () => {
    // A request with a body that the server refuses before reading it must still get an answer.
    expectError(assert, await answered(ctx.server.url('/health/live'), { method: 'POST', body: '{}' }), 405, 'method_not_allowed');
    const r = await fetchJson(ctx.server.url('/debug/echo'));
    expectError(assert, r, 405, 'method_not_allowed');
    assert.match(r.headers.get('allow') || '', /POST/);
  });

  it('body over HTTP_MAX_BODY_SIZE: 413 payload_too_large', async () => {
    const body = JSON.stringify({ rows: makeRows(60) });
    assert.ok(body.length > 2048 && body.length < 10240, `body ${body.length}`);
    const r = await answered(ctx.server.url('/debug/echo'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body + ' '.repeat(10240 - body.length),
    });
    expectError(assert, r, 413, 'payload_too_large');
  });

  it('chunked body (no Content-Length) over the limit: 413 payload_too_large', async () => {
    const res = await new Promise((resolve, reject) => {
      const req = http.request(ctx.server.url('/debug/echo'), {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      });
      req.on('response', (r) => {
        const chunks = [];
        r.on('data', (c) => chunks.push(c));
        r.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let json = null;
          try {
            json = JSON.parse(text);
          } catch {}
          resolve({ status: r.statusCode, headers: r.headers, text, json });
        });
      });
      req.on('error', (e) => reject(noAnswer(e)));
      req.write('{"rows": [');
      for (let i = 0; i < 10; i++) req.write(' '.repeat(1024));
      req.end(']}');
    });
    expectError(assert, res, 413, 'payload_too_large');
  });

  it('body at the limit is accepted', async () => {
    const body = '{"rows": []}';
    const r = await fetchJson(ctx.server.url('/debug/echo'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body + ' '.repeat(2048 - body.length),
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.rows, 0);
  });

  it('malformed JSON: 400 invalid_json naming line and column', async () => {
    const r = await fetchJson(ctx.server.url('/debug/echo'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"rows": [1,',
    });
    const b = expectError(assert, r, 400, 'invalid_json');
    assert.match(b.detail, /line 1/, b.detail);
    assert.match(b.detail, /column/, b.detail);
  });

  it('malformed JSON on line 3 names line 3', async () => {
    const r = await fetchJson(ctx.server.url('/debug/echo'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{\n  "rows": [],\n  "oops": ]\n}',
    });
    const b = expectError(assert, r, 400, 'invalid_json');
    assert.match(b.detail, /line 3/, b.detail);
    assert.match(b.detail, /column/, b.detail);
  });

  it('empty body: 400 invalid_json', async () => {
    const r = await fetchJson(ctx.server.url('/debug/echo'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '',
    });
    expectError(assert, r, 400, 'invalid_json');
  });

  it('the server keeps serving after errors', async () => {
    const r = await fetchJson(ctx.server.url('/health/live'));
    assert.equal(r.status, 200);
  });

  stopsCleanly(ctx);
});
