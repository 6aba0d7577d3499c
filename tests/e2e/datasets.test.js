// /datasets: buckets and objects. The same suite runs against the local driver and against a
// real S3 server on loopback (s3rver behind a front that verifies every SigV4 signature with
// AWS's own signer, lib/s3.js). DLB_BIG_UPLOAD_MB (default 200) sizes the streaming test; the
// issue's full run is DLB_BIG_UPLOAD_MB=1024.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { expectError, request, sleep, startServer, stopsCleanly, useServer } from './lib/server.js';
import { s3Env, startS3 } from './lib/s3.js';
import { bigUpload, formBody, hashDownload, objUrl, put } from './lib/datasets.js';

const BIG_MB = Number(process.env.DLB_BIG_UPLOAD_MB || 200);
const MAX_FILE = (BIG_MB + 64) * 1024 * 1024;

const md5 = (b) => crypto.createHash('md5').update(b).digest('hex');

/** A request whose path goes out exactly as written (a URL string would lose "..", "."). */
function rawRequest(ctx, method, rawPath, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: ctx.server.port, method, path: rawPath, agent: false, headers: { 'content-type': 'text/plain' } },
      (res) => {
        const c = [];
        res.on('data', (d) => c.push(d));
        res.on('end', () => {
          const text = Buffer.concat(c).toString();
          let json = null;
          try {
            json = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode, headers: res.headers, text, json });
        });
      }
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Runs fn over items with at most n in flight. */
async function pool(items, n, fn) {
  let i = 0;
  const worker = async () => {
    while (i < items.length) {
      const k = i++;
      await fn(items[k], k);
    }
  };
  await Promise.all(Array.from({ length: n }, worker));
}

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Samples the server's RSS every 25 ms until stop() is called; resolves the peak (KiB). */
function rssSampler(pid) {
  let peak = rssKiB(pid);
  const t = setInterval(() => {
    try {
      peak = Math.max(peak, rssKiB(pid));
    } catch {
      /* exited */
    }
  }, 25);
  return { stop: () => (clearInterval(t), peak) };
}

for (const mode of ['local', 's3']) {
  describe(`datasets on the ${mode} store`, () => {
    const env = { LOG_ACCESS: 'false', STORAGE_MAX_FILE_SIZE: String(MAX_FILE) };
    let s3 = null;
    if (mode === 's3') {
      before(async () => {
        s3 = await startS3();
        Object.assign(env, s3Env(s3, { FEATURE_ENABLE_S3_ENCRYPTION: 'true', STORAGE_MULTIPART_THRESHOLD: '5M' }));
      });
      after(async () => s3 && s3.stop());
    }
    const ctx = useServer(env);
    const bucket = `b-${mode}`;

    it('creates a bucket (201), refuses it twice (409) and bad names (400)', async () => {
      const r = await request(ctx.server.url(`/datasets/${bucket}`), { method: 'POST' });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json.bucket, bucket);
      const again = await request(ctx.server.url(`/datasets/${bucket}`), { method: 'POST' });
      expectError(assert, again, 409, 'bucket_exists');
      for (const bad of ['Upper', 'ab', 'has_underscore', 'a'.repeat(64), '-lead', 'dots..two', '10.0.0.1']) {
        const b = await request(ctx.server.url(`/datasets/${encodeURIComponent(bad)}`), { method: 'POST' });
        expectError(assert, b, 400, 'invalid_bucket_name');
      }
    });

    it('stores a raw body and serves it back with its headers', async () => {
      const data = crypto.randomBytes(100000);
      const r = await put(ctx, bucket, 'raw/data.bin', data, { 'content-type': 'application/x-test' });
      assert.equal(r.status, 201, r.text);
      assert.deepEqual(
        { bucket: r.json.bucket, object: r.json.object, size: r.json.size, etag: r.json.etag, ct: r.json.content_type },
        { bucket, object: 'raw/data.bin', size: data.length, etag: md5(data), ct: 'application/x-test' }
      );
      const g = await request(objUrl(ctx, bucket, 'raw/data.bin'));
      assert.equal(g.status, 200);
      assert.ok(g.body.equals(data), 'bytes round-trip');
      assert.equal(g.headers['content-type'], 'application/x-test');
      assert.equal(g.headers['content-length'], String(data.length));
      assert.equal(g.headers.etag, `"${md5(data)}"`);
      assert.equal(g.headers['accept-ranges'], 'bytes');
      assert.ok(Date.parse(g.headers['last-modified']) > Date.now() - 600000, g.headers['last-modified']);
      assert.equal(g.headers['transfer-encoding'], undefined, 'Content-Length, not chunked');
    });

    it('takes multipart/form-data with a file field (as the seed clients send)', async () => {
      const data = Buffer.from('id,name\n1,a\n2,b\n');
      const f = formBody('file', 'people.csv', 'text/csv', data);
      const r = await request(objUrl(ctx, bucket, 'forms/people.csv'), { method: 'PUT', body: f.body, headers: { 'content-type': f.ctype } });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json.size, data.length);
      assert.equal(r.json.content_type, 'text/csv');
      const g = await request(objUrl(ctx, bucket, 'forms/people.csv'));
      assert.equal(g.text, data.toString());
      assert.equal(g.headers['content-type'], 'text/csv');
      const other = formBody('notfile', 'x.csv', 'text/csv', data);
      const bad = await request(objUrl(ctx, bucket, 'forms/x.csv'), { method: 'PUT', body: other.body, headers: { 'content-type': other.ctype } });
      expectError(assert, bad, 422, 'missing_file');
    });

    it('HEAD gives the headers without the body', async () => {
      const h = await request(objUrl(ctx, bucket, 'raw/data.bin'), { method: 'HEAD' });
      assert.equal(h.status, 200);
      assert.equal(h.headers['content-length'], '100000');
      assert.equal(h.headers['content-type'], 'application/x-test');
      assert.match(h.headers.etag, /^"[0-9a-f]{32}"$/);
      assert.equal(h.body.length, 0);
      const missing = await request(objUrl(ctx, bucket, 'raw/none.bin'), { method: 'HEAD' });
      assert.equal(missing.status, 404);
    });

    it('serves byte ranges (206), refuses unsatisfiable ones (416)', async () => {
      const data = Buffer.from('0123456789abcdefghij');
      assert.equal((await put(ctx, bucket, 'range.txt', data, { 'content-type': 'text/plain' })).status, 201);
      const cases = [
        ['bytes=0-4', 0, 4],
        ['bytes=5-', 5, 19],
        ['bytes=-3', 17, 19],
        ['bytes=18-100', 18, 19],
        ['bytes=-100', 0, 19],
      ];
      for (const [range, a, b] of cases) {
        const r = await request(objUrl(ctx, bucket, 'range.txt'), { headers: { range } });
        assert.equal(r.status, 206, `${range}: ${r.text}`);
        assert.equal(r.text, data.subarray(a, b + 1).toString(), range);
        assert.equal(r.headers['content-range'], `bytes ${a}-${b}/20`, range);
        assert.equal(r.headers['content-length'], String(b - a + 1), range);
      }
      for (const range of ['bytes=20-', 'bytes=100-200', 'bytes=-0']) {
        const r = await request(objUrl(ctx, bucket, 'range.txt'), { headers: { range } });
        expectError(assert, r, 416, 'range_not_satisfiable');
        assert.equal(r.headers['content-range'], 'bytes */20', range);
      }
      // Several ranges, or nonsense: the whole object (RFC 9110 lets a server ignore Range).
      for (const range of ['bytes=0-1,3-4', 'items=0-3', 'bytes=5-2']) {
        const r = await request(objUrl(ctx, bucket, 'range.txt'), { headers: { range } });
        assert.equal(r.status, 200, range);
        assert.equal(r.text, data.toString());
      }
    });

    it('keeps unicode and slashes in object names', async () => {
      const names = ['données/été 2024/rapport final.csv', '日本語/ファイル.txt', 'a+b=c&d/e%f#g?h.txt', 'emoji/🦆.json', 'deep/a/b/c/d/e/f.txt'];
      for (const name of names) {
        const body = Buffer.from(`content of ${name}`);
        const r = await put(ctx, bucket, `uni/${name}`, body, { 'content-type': 'text/plain; charset=utf-8' });
        assert.equal(r.status, 201, `${name}: ${r.text}`);
        assert.equal(r.json.object, `uni/${name}`);
        const g = await request(objUrl(ctx, bucket, `uni/${name}`));
        assert.equal(g.status, 200, name);
        assert.equal(g.text, body.toString());
      }
      const l = await request(ctx.server.url(`/datasets/${bucket}?prefix=${encodeURIComponent('uni/')}`));
      assert.equal(l.status, 200);
      const got = l.json.objects.map((o) => o.name);
      const want = names.map((n) => `uni/${n}`).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      assert.deepEqual(got, want, 'listed in UTF-8 byte order');
    });

    it('refuses bad object names (400)', async () => {
      const bad = [
        `/datasets/${bucket}/a/../b`,
        `/datasets/${bucket}/a/%2e%2e/b`,
        `/datasets/${bucket}/a/./b`,
        `/datasets/${bucket}/..`,
        `/datasets/${bucket}/a//b`,
        `/datasets/${bucket}//lead`,
        `/datasets/${bucket}/trail/`,
        `/datasets/${bucket}/ctl%01char`,
        `/datasets/${bucket}/tab%09char`,
        `/datasets/${bucket}/bad%FFutf8`,
        `/datasets/${bucket}/${'k'.repeat(1025)}`,
      ];
      for (const p of bad) {
        const r = await rawRequest(ctx, 'PUT', p, 'x');
        // 404 only where no route matches at all (an empty {object}); never stored.
        assert.ok([400, 404].includes(r.status), `${p}: ${r.status} ${r.text}`);
        if (r.status === 400) assert.equal(r.json.error, 'invalid_object_name', p);
        else assert.equal(r.json.error, 'not_found', p);
        const g = await rawRequest(ctx, 'GET', p);
        assert.ok([400, 404].includes(g.status), `GET ${p}: ${g.status}`);
      }
      for (const p of [`/datasets/${bucket}/a/../b`, `/datasets/${bucket}/a/%2e%2e/b`, `/datasets/${bucket}/a//b`]) {
        const r = await rawRequest(ctx, 'PUT', p, 'x');
        assert.equal(r.status, 400, `${p}: ${r.text}`);
      }
      const l = await request(ctx.server.url(`/datasets/${bucket}`));
      assert.ok(!l.json.objects.some((o) => o.name === 'b' || o.name.startsWith('a/')), 'nothing stored');
    });

    it('answers 404 for missing buckets and objects, deletes with 204', async () => {
      expectError(assert, await request(objUrl(ctx, bucket, 'nope.txt')), 404, 'no_such_key');
      expectError(assert, await request(objUrl(ctx, 'no-such-bucket', 'x.txt')), 404, 'no_such_bucket');
      expectError(assert, await request(ctx.server.url('/datasets/no-such-bucket')), 404, 'no_such_bucket');
      expectError(assert, await put(ctx, 'no-such-bucket', 'x.txt', 'x'), 404, 'no_such_bucket');
      assert.equal((await put(ctx, bucket, 'del/me.txt', 'bye')).status, 201);
      const d = await request(objUrl(ctx, bucket, 'del/me.txt'), { method: 'DELETE' });
      assert.equal(d.status, 204);
      expectError(assert, await request(objUrl(ctx, bucket, 'del/me.txt'), { method: 'DELETE' }), 404, 'no_such_key');
      expectError(assert, await request(objUrl(ctx, bucket, 'del/me.txt')), 404, 'no_such_key');
    });

    it('lists with prefix, delimiter, limit and continuation tokens over 2,500 objects', async () => {
      const pb = `${bucket}-many`;
      assert.equal((await request(ctx.server.url(`/datasets/${pb}`), { method: 'POST' })).status, 201);
      const keys = Array.from({ length: 2500 }, (_, i) => `part-${String(i).padStart(5, '0')}.txt`);
      const t0 = Date.now();
      await pool(keys, 32, async (k) => {
        const r = await put(ctx, pb, k, k, { 'content-type': 'text/plain' });
        assert.equal(r.status, 201, r.text);
      });
      const made = Date.now() - t0;
      const seen = [];
      let token = null;
      let pages = 0;
      do {
        const q = `limit=1000${token ? `&continuation_token=${encodeURIComponent(token)}` : ''}`;
        const r = await request(ctx.server.url(`/datasets/${pb}?${q}`));
        assert.equal(r.status, 200, r.text);
        pages++;
        for (const o of r.json.objects) {
          assert.equal(typeof o.size, 'number');
          assert.match(o.etag, /^[0-9a-f]{32}$/);
          assert.ok(!Number.isNaN(Date.parse(o.last_modified)), o.last_modified);
          seen.push(o.name);
        }
        token = r.json.next_continuation_token || null;
        assert.equal(r.json.is_truncated, !!token);
      } while (token && pages < 10);
      assert.equal(pages, 3);
      assert.deepEqual(seen, keys, 'every key once, in order');
      // Small pages with a prefix.
      const small = await request(ctx.server.url(`/datasets/${pb}?prefix=part-0001&limit=7`));
      assert.equal(small.json.objects.length, 7);
      assert.equal(small.json.objects[0].name, 'part-00010.txt');
      assert.equal(small.json.is_truncated, true);
      const next = await request(
        ctx.server.url(`/datasets/${pb}?prefix=part-0001&limit=7&continuation_token=${encodeURIComponent(small.json.next_continuation_token)}`)
      );
      assert.deepEqual(next.json.objects.map((o) => o.name), ['part-00017.txt', 'part-00018.txt', 'part-00019.txt']);
      assert.equal(next.json.is_truncated, false);
      // Delimiter: "folders" come back as prefixes.
      const d = await request(ctx.server.url(`/datasets/${bucket}?delimiter=/`));
      assert.equal(d.status, 200);
      assert.ok(d.json.prefixes.includes('raw/'), JSON.stringify(d.json.prefixes));
      assert.ok(d.json.prefixes.includes('forms/'));
      assert.ok(d.json.objects.some((o) => o.name === 'range.txt'));
      assert.ok(!d.json.objects.some((o) => o.name.includes('/')));
      // s3rver 3.7 misses prefixes whose keys all sit two or more levels down (its directory
      // walk prunes them), so "uni/" is checked on the local store only.
      if (mode === 'local') {
        assert.ok(d.json.prefixes.includes('uni/'), JSON.stringify(d.json.prefixes));
        const d2 = await request(ctx.server.url(`/datasets/${bucket}?delimiter=/&prefix=${encodeURIComponent('uni/')}`));
        assert.ok(d2.json.prefixes.includes('uni/données/'), JSON.stringify(d2.json.prefixes));
      }
      for (const bad of ['limit=0', 'limit=1001', 'limit=abc']) {
        expectError(assert, await request(ctx.server.url(`/datasets/${pb}?${bad}`)), 400, 'invalid_limit');
      }
      console.log(`# ${mode}: 2,500 uploads in ${made} ms`);
    });

    it(`streams a ${BIG_MB} MiB upload and download with flat memory`, { timeout: 600000 }, async () => {
      const pid = ctx.server.pid;
      const base = rssKiB(pid);
      let s = rssSampler(pid);
      const t0 = Date.now();
      const up = await bigUpload(objUrl(ctx, bucket, 'big/blob.bin'), BIG_MB);
      const upMs = Date.now() - t0;
      const upPeak = s.stop();
      assert.equal(up.status, 201, up.text);
      assert.equal(up.json.size, BIG_MB * (1 << 20));
      s = rssSampler(pid);
      const t1 = Date.now();
      const down = await hashDownload(objUrl(ctx, bucket, 'big/blob.bin'));
      const downMs = Date.now() - t1;
      const downPeak = s.stop();
      assert.equal(down.status, 200);
      assert.equal(down.bytes, BIG_MB * (1 << 20));
      assert.equal(down.sha256, up.sha256, 'SHA-256 round-trip');
      const growMiB = (Math.max(upPeak, downPeak) - base) / 1024;
      console.log(
        `# ${mode}: ${BIG_MB} MiB up ${((BIG_MB * 1000) / upMs).toFixed(0)} MiB/s, down ${((BIG_MB * 1000) / downMs).toFixed(0)} MiB/s; ` +
          `RSS base ${(base / 1024).toFixed(1)} MiB, peak growth ${growMiB.toFixed(1)} MiB`
      );
      assert.ok(growMiB < 64, `RSS grew by ${growMiB.toFixed(1)} MiB`);
      assert.equal((await request(objUrl(ctx, bucket, 'big/blob.bin'), { method: 'DELETE' })).status, 204);
    });

    if (mode === 's3') {
      it('signs every request so that AWS’s own signer agrees; encrypts every write', async () => {
        assert.ok(s3.stats.verified > 2500, `verified ${s3.stats.verified}`);
        assert.equal(s3.stats.rejected, 0, JSON.stringify(s3.stats.lastRejection));
        for (const h of ['host', 'x-amz-content-sha256', 'x-amz-date']) assert.ok(s3.stats.signedHeaders.has(h), h);
        assert.ok(s3.stats.objectWrites > 2500);
        assert.equal(s3.stats.sseWrites, s3.stats.objectWrites, 'x-amz-server-side-encryption on every write');
        assert.ok(s3.stats.parts >= 2, `the big upload went in parts (${s3.stats.parts})`);
      });

      it('answers 503 fast while the store is down and recovers without a restart', async () => {
        await s3.pause();
        try {
          for (let i = 0; i < 8; i++) {
            const t0 = Date.now();
            const r = await request(objUrl(ctx, bucket, 'range.txt'));
            const ms = Date.now() - t0;
            expectError(assert, r, 503, 'store_unavailable');
            assert.match(r.json.detail, /unreachable/);
            assert.equal(r.headers['retry-after'], '2');
            assert.ok(ms < 1000, `answered in ${ms} ms`);
          }
          const w = await put(ctx, bucket, 'outage.txt', 'x');
          expectError(assert, w, 503, 'store_unavailable');
        } finally {
          await s3.resume();
        }
        const deadline = Date.now() + 10000;
        let r;
        for (;;) {
          r = await request(objUrl(ctx, bucket, 'range.txt'));
          if (r.status === 200 || Date.now() > deadline) break;
          await sleep(200);
        }
        assert.equal(r.status, 200, r.text);
        assert.equal(r.text, '0123456789abcdefghij');
        assert.equal((await put(ctx, bucket, 'after-outage.txt', 'back')).status, 201);
        expectError(assert, await request(objUrl(ctx, bucket, 'outage.txt')), 404, 'no_such_key');
      });
    }

    stopsCleanly(ctx);
  });
}

describe('datasets: S3 credentials the store refuses', () => {
  let s3 = null;
  before(async () => {
    s3 = await startS3();
  });
  after(async () => s3 && s3.stop());

  it('a wrong secret key gives 502 store_access_denied naming the signature', async () => {
    const srv = await startServer(s3Env(s3, { STORAGE_MINIO_SECRET_KEY: 'not-the-secret', LOG_ACCESS: 'false' }));
    try {
      const r = await request(srv.url('/datasets/somebucket'), { method: 'POST' });
      expectError(assert, r, 502, 'store_access_denied');
      const w = await request(srv.url('/datasets/somebucket/x.txt'), { method: 'PUT', body: 'x' });
      expectError(assert, w, 502, 'store_access_denied');
      assert.match(w.json.detail, /SignatureDoesNotMatch/);
      assert.match(w.json.detail, /STORAGE_MINIO_SECRET_KEY/);
      assert.ok(s3.stats.rejected >= 2);
    } finally {
      await srv.stop();
    }
  });

  it('a wrong access key gives 502 naming InvalidAccessKeyId', async () => {
    const srv = await startServer(s3Env(s3, { STORAGE_MINIO_ACCESS_KEY: 'NOBODY', LOG_ACCESS: 'false' }));
    try {
      const w = await request(srv.url('/datasets/somebucket/x.txt'), { method: 'PUT', body: 'x' });
      expectError(assert, w, 502, 'store_access_denied');
      assert.match(w.json.detail, /InvalidAccessKeyId/);
    } finally {
      await srv.stop();
    }
  });
});

describe('datasets: STORAGE_MAX_FILE_SIZE', () => {
  const ctx = useServer({ STORAGE_MAX_FILE_SIZE: '1M', LOG_ACCESS: 'false' });

  it('413 for a declared length over the limit and for a chunked body that passes it', async () => {
    assert.equal((await request(ctx.server.url('/datasets/limits'), { method: 'POST' })).status, 201);
    const ok = await request(ctx.server.url('/datasets/limits/fits.bin'), { method: 'PUT', body: Buffer.alloc(1 << 20) });
    assert.equal(ok.status, 201, ok.text);
    const big = await request(ctx.server.url('/datasets/limits/big.bin'), { method: 'PUT', body: Buffer.alloc((1 << 20) + 1) });
    expectError(assert, big, 413, 'payload_too_large');
    // No Content-Length: the limit is enforced while the body streams in.
    const chunked = await new Promise((resolve, reject) => {
      const req = http.request(ctx.server.url('/datasets/limits/chunked.bin'), { method: 'PUT', agent: false }, (res) => {
        const c = [];
        res.on('data', (d) => c.push(d));
        res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(c).toString() }));
      });
      req.on('error', (e) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? resolve({ status: 413, text: 'cut' }) : reject(e)));
      let n = 0;
      const pump = () => {
        while (n < 3) {
          n++;
          if (!req.write(Buffer.alloc(1 << 20))) return req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    assert.equal(chunked.status, 413, chunked.text);
    expectError(assert, await request(ctx.server.url('/datasets/limits/chunked.bin')), 404, 'no_such_key');
  });

  stopsCleanly(ctx);
});
