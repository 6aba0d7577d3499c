// GET /debug/stream: a chunked text/plain stream produced by a worker with back-pressure.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
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

  // Past 256 KiB the worker writes chunks to the socket itself and hands it back at a chunk
  // boundary: framing, the last chunk and keep-alive must come out as through libmicrohttpd.
  it('a long stream hands the connection back intact: the next request reuses it', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const get = (q) =>
        new Promise((resolve, reject) => {
          const req = http.get(ctx.server.url(`/debug/stream?${q}`), { agent }, (res) => {
            const parts = [];
            res.on('data', (c) => parts.push(c));
            res.on('end', () => resolve({ res, reused: req.reusedSocket, body: Buffer.concat(parts) }));
            res.on('error', reject);
          });
          req.on('error', reject);
        });
      for (const [chunks, size] of [
        [300, 9999],
        [3, 200000],
        [5000, 77],
      ]) {
        const a = await get(`chunks=${chunks}&size=${size}`);
        assert.equal(a.res.statusCode, 200);
        assert.equal(a.res.headers['transfer-encoding'], 'chunked');
        assert.equal(a.body.length, chunks * size, `${chunks}x${size} length`);
        assert.equal(firstBadByte(a.body, size), -1, `${chunks}x${size} content`);
      }
      const b = await get('chunks=2&size=5');
      assert.equal(b.reused, true, 'the keep-alive connection was reused');
      assert.equal(b.body.toString(), 'aaaaabbbbb');
    } finally {
      agent.destroy();
    }
  });

  it('a long stream read slowly arrives byte for byte', async () => {
    const size = 65536;
    const chunks = 160; // 10 MiB, far beyond the socket buffers
    const body = await new Promise((resolve, reject) => {
      const req = http.get(ctx.server.url(`/debug/stream?chunks=${chunks}&size=${size}`), { agent: false }, (res) => {
        const parts = [];
        let got = 0;
        let paused = 0;
        res.on('data', (c) => {
          parts.push(c);
          got += c.length;
          if (paused < 3 && got > (paused + 1) * 3 * (1 << 20)) {
            paused++;
            res.pause();
            setTimeout(() => res.resume(), 400);
          }
        });
        res.on('end', () => resolve(Buffer.concat(parts)));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    assert.equal(body.length, chunks * size);
    assert.equal(firstBadByte(body, size), -1);
  });

  it('HTTP/1.0: a long stream is sent unframed and ends with the connection', async () => {
    const raw = await new Promise((resolve, reject) => {
      const s = net.connect(ctx.server.port, '127.0.0.1', () =>
        s.write('GET /debug/stream?chunks=100&size=5000 HTTP/1.0\r\nHost: x\r\n\r\n'),
      );
      const parts = [];
      s.on('data', (c) => parts.push(c));
      s.on('end', () => resolve(Buffer.concat(parts)));
      s.on('error', reject);
    });
    const at = raw.indexOf('\r\n\r\n');
    const head = raw.subarray(0, at).toString();
    assert.match(head, /^HTTP\/1\.[01] 200/);
    assert.doesNotMatch(head, /transfer-encoding/i);
    const body = raw.subarray(at + 4);
    assert.equal(body.length, 100 * 5000);
    assert.equal(firstBadByte(body, 5000), -1);
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
