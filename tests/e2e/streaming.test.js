// GET /debug/stream: a chunked text/plain stream produced by a worker with back-pressure.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { describe, it } from 'node:test';
import { fetchJson, request, sleep, stopsCleanly, useServer } from './lib/server.js';

/** Checks that byte k is 'a' + (floor(k / size) % 26); returns the first bad offset or -1. */
function firstBadByte(buf, size) {
  for (let k = 0; k < buf.length; k++) {
    if (buf[k] !== 97 + (Math.floor(k / size) % 26)) return k;
  }
  return -1;
}

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

describe('streaming', () => {
  const ctx = useServer({ DEBUG: 'true' });

  it('200 chunks of 64 KiB arrive complete and correct, chunked', async () => {
    const chunks = 200;
    const size = 65536;
    const r = await request(ctx.server.url(`/debug/stream?chunks=${chunks}&size=${size}`), {
      headers: { 'accept-encoding': 'gzip' },
      timeout: 60000,
    });
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.match(r.headers['content-type'] || '', /^text\/plain/);
    assert.equal(r.headers['transfer-encoding'], 'chunked');
    assert.equal(r.headers['content-length'], undefined);
    assert.equal(r.headers['content-encoding'], undefined, 'streams are not gzipped');
    assert.equal(r.body.length, chunks * size, 'total length');
    assert.equal(firstBadByte(r.body, size), -1, 'content');
  });

  it('small and odd sizes', async () => {
    for (const [chunks, size] of [
      [1, 1],
      [30, 7],
      [27, 1000],
    ]) {
      const r = await request(ctx.server.url(`/debug/stream?chunks=${chunks}&size=${size}`));
      assert.equal(r.status, 200, r.text.slice(0, 300));
      assert.equal(r.body.length, chunks * size, `${chunks}x${size}`);
      assert.equal(firstBadByte(r.body, size), -1, `${chunks}x${size} content`);
    }
  });

  it('fetch() reads the stream too', async () => {
    const res = await fetch(ctx.server.url('/debug/stream?chunks=50&size=4096'));
    assert.equal(res.status, 200);
    const buf = Buffer.from(await res.arrayBuffer());
    assert.equal(buf.length, 50 * 4096);
    assert.equal(firstBadByte(buf, 4096), -1);
  });

  it('back-pressure: a paused client does not make the server buffer the stream', async () => {
    const pid = ctx.server.pid;
    const before = rssKb(pid);
    const total = 800 * 65536; // 50 MiB
    let got = 0;
    const res = await new Promise((resolve, reject) => {
      const req = http.get(ctx.server.url('/debug/stream?chunks=800&size=65536'), { agent: false }, resolve);
      req.on('error', reject);
    });
    assert.equal(res.status ?? res.statusCode, 200);
    res.pause();
    await sleep(1500); // the worker runs ahead only as far as the socket buffers allow
    const during = rssKb(pid);
    res.on('data', (c) => (got += c.length));
    res.resume();
    await new Promise((resolve, reject) => {
      res.on('end', resolve);
      res.on('error', reject);
    });
    assert.equal(got, total);
    const grownMb = (during - before) / 1024;
    assert.ok(grownMb < 24, `server RSS grew ${grownMb.toFixed(1)} MiB while the client paused (stream is 50 MiB)`);
  });

  it('a client that goes away mid-stream does not hurt the server', async () => {
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve, reject) => {
        const req = http.get(ctx.server.url('/debug/stream?chunks=2000&size=65536'), { agent: false }, (res) => {
          let got = 0;
          res.on('data', (c) => {
            got += c.length;
            if (got > 1 << 20) {
              req.destroy();
              resolve();
            }
          });
          res.on('error', () => resolve());
        });
        req.on('error', (e) => (e.code === 'ECONNRESET' ? resolve() : reject(e)));
      });
    }
    await sleep(300);
    const h = await fetchJson(ctx.server.url('/health/live'));
    assert.equal(h.status, 200);
    // The workers were released: a sleep still runs promptly.
    const s = await fetchJson(ctx.server.url('/debug/sleep?ms=1'), { timeoutMs: 10000 });
    assert.equal(s.status, 200, s.text);
    const r = await request(ctx.server.url('/debug/stream?chunks=3&size=10'));
    assert.equal(r.text, 'a'.repeat(10) + 'b'.repeat(10) + 'c'.repeat(10));
  });

  it('invalid parameters: 4xx JSON error', async () => {
    for (const q of ['chunks=-1&size=10', 'chunks=abc&size=10', 'chunks=1&size=-5']) {
      const r = await fetchJson(ctx.server.url(`/debug/stream?${q}`), { timeoutMs: 5000 });
      assert.ok([400, 422].includes(r.status), `${q}: ${r.status} ${r.text.slice(0, 200)}`);
      assert.equal(typeof r.json?.error, 'string', `${q}: ${r.text.slice(0, 200)}`);
    }
  });

  stopsCleanly(ctx);
});
