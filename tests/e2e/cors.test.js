// CORS: allowed origins get Access-Control-Allow-Origin; preflight answers 204.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request, stopsCleanly, useServer } from './lib/server.js';

const corsHeaders = (h) => Object.keys(h).filter((k) => k.startsWith('access-control-'));

describe('CORS with an origin list', () => {
  const ctx = useServer({ FEATURE_ENABLE_CORS: 'true', SECURITY_CORS_ORIGINS: '["http://a.example"]' });

  it('an allowed origin is echoed', async () => {
    const r = await request(ctx.server.url('/health'), { headers: { Origin: 'http://a.example' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], 'http://a.example');
  });

  it('an allowed origin also gets the header on errors', async () => {
    const r = await request(ctx.server.url('/nope'), { headers: { Origin: 'http://a.example' } });
    assert.equal(r.status, 404);
    assert.equal(r.headers['access-control-allow-origin'], 'http://a.example');
  });

  it('another origin gets no Access-Control-Allow-Origin', async () => {
    for (const origin of ['http://evil.example', 'http://a.example.evil.example', 'https://a.example']) {
      const r = await request(ctx.server.url('/health'), { headers: { Origin: origin } });
      assert.equal(r.status, 200);
      assert.equal(r.headers['access-control-allow-origin'], undefined, origin);
    }
  });

  it('no Origin: no Access-Control-Allow-Origin', async () => {
    const r = await request(ctx.server.url('/health'));
    assert.equal(r.headers['access-control-allow-origin'], undefined);
  });

  it('preflight OPTIONS /health: 204 with Access-Control-Allow-Methods', async () => {
    const r = await request(ctx.server.url('/health'), {
      method: 'OPTIONS',
      headers: { Origin: 'http://a.example', 'Access-Control-Request-Method': 'GET' },
    });
    assert.equal(r.status, 204, r.text);
    assert.equal(r.headers['access-control-allow-origin'], 'http://a.example');
    const methods = (r.headers['access-control-allow-methods'] || '').toUpperCase();
    assert.match(methods, /GET/, `Access-Control-Allow-Methods: ${methods}`);
    assert.equal(r.body.length, 0, 'no body on 204');
  });

  it('preflight from another origin gets no CORS allowance', async () => {
    const r = await request(ctx.server.url('/health'), {
      method: 'OPTIONS',
      headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'GET' },
    });
    assert.equal(r.headers['access-control-allow-origin'], undefined);
  });

  stopsCleanly(ctx);
});

describe('CORS disabled', () => {
  const ctx = useServer({ FEATURE_ENABLE_CORS: 'false', SECURITY_CORS_ORIGINS: '["http://a.example"]' });

  it('no CORS headers at all', async () => {
    const r = await request(ctx.server.url('/health'), { headers: { Origin: 'http://a.example' } });
    assert.equal(r.status, 200);
    assert.deepEqual(corsHeaders(r.headers), []);
    const p = await request(ctx.server.url('/health'), {
      method: 'OPTIONS',
      headers: { Origin: 'http://a.example', 'Access-Control-Request-Method': 'GET' },
    });
    assert.deepEqual(corsHeaders(p.headers), [], `preflight status ${p.status}`);
  });

  stopsCleanly(ctx);
});
