// Response compression: gzip when asked for and the body is >= 1024 bytes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { makeRows } from './lib/data.js';
import { fetchJson, request, stopsCleanly, useServer } from './lib/server.js';

const rowsBody = JSON.stringify({ rows: makeRows(200) });
const post = { method: 'POST', headers: { 'content-type': 'application/json' } };

describe('gzip', () => {
  const ctx = useServer({ DEBUG: 'true' });

  it('a large response is gzipped with Accept-Encoding: gzip (raw bytes)', async () => {
    const r = await request(ctx.server.url('/debug/echo?echo=true'), {
      ...post,
      headers: { ...post.headers, 'accept-encoding': 'gzip' },
      body: rowsBody,
    });
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(r.body[0], 0x1f, 'gzip magic');
    assert.equal(r.body[1], 0x8b, 'gzip magic');
    const plain = zlib.gunzipSync(r.body).toString('utf8');
    const json = JSON.parse(plain);
    assert.equal(json.rows, 200);
    assert.equal(json.data.length, 200);
    assert.deepEqual(json.data, JSON.parse(rowsBody).rows);
    assert.ok(r.body.length < plain.length, `compressed ${r.body.length} < ${plain.length}`);
    if (r.headers['content-length'] !== undefined)
      assert.equal(Number(r.headers['content-length']), r.body.length, 'Content-Length is the compressed size');
  });

  it('fetch() sees Content-Encoding: gzip and a body that parses', async () => {
    const r = await fetchJson(ctx.server.url('/debug/echo?echo=true'), {
      ...post,
      headers: { ...post.headers, 'accept-encoding': 'gzip' },
      body: rowsBody,
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-encoding'), 'gzip');
    assert.equal(r.json.rows, 200);
    assert.equal(r.json.data[199].name, 'row-199');
  });

  it('Accept-Encoding with several codings and q-values still gets gzip', async () => {
    const r = await request(ctx.server.url('/debug/echo?echo=true'), {
      ...post,
      headers: { ...post.headers, 'accept-encoding': 'br;q=1.0, gzip;q=0.8, *;q=0.1' },
      body: rowsBody,
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(JSON.parse(zlib.gunzipSync(r.body)).rows, 200);
  });

  it('no Accept-Encoding: no Content-Encoding', async () => {
    const r = await request(ctx.server.url('/debug/echo?echo=true'), { ...post, body: rowsBody });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-encoding'], undefined);
    assert.equal(r.json.rows, 200);
  });

  it('gzip;q=0 is a refusal', async () => {
    const r = await request(ctx.server.url('/debug/echo?echo=true'), {
      ...post,
      headers: { ...post.headers, 'accept-encoding': 'gzip;q=0' },
      body: rowsBody,
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-encoding'], undefined);
    assert.equal(r.json.rows, 200);
  });

  it('a small response (< 1024 bytes) is not gzipped', async () => {
    for (const p of ['/health/live', '/debug/echo']) {
      const r =
        p === '/debug/echo'
          ? await request(ctx.server.url(p), {
              ...post,
              headers: { ...post.headers, 'accept-encoding': 'gzip' },
              body: JSON.stringify({ rows: makeRows(3) }),
            })
          : await request(ctx.server.url(p), { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(r.status, 200, `${p}: ${r.text}`);
      assert.ok(r.body.length < 1024);
      assert.equal(r.headers['content-encoding'], undefined, p);
      assert.ok(r.json, `${p} body is plain JSON`);
    }
  });

  stopsCleanly(ctx);
});
