// /datasets uploads as they arrive: parts in parallel assemble byte-exactly, and an upload that
// fails on the way (client gone, 413 mid-stream) leaves nothing: no object, no multipart upload
// in progress on S3 (ListMultipartUploads through the verifying front of lib/s3.js), no
// temporary file on the local store. A file of its own: datasets.test.js is near the per-file
// time limit already.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { request, sleep, stopsCleanly, useServer } from './lib/server.js';
import { s3Env, startS3 } from './lib/s3.js';
import { bigUpload, formBody, hashDownload, objUrl, put } from './lib/datasets.js';

/** Sends `sendMb` MiB of a PUT declared as `declaredMb` MiB (chunked when null), then either
 * ends it or, with cut, destroys the socket mid-body. Resolves {status, text} or {cut}. */
function partialUpload(url, { sendMb, declaredMb = null, cut = false }) {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/octet-stream' };
    if (declaredMb !== null) headers['content-length'] = declaredMb * (1 << 20);
    const req = http.request(url, { method: 'PUT', headers, agent: false });
    req.on('response', (res) => {
      const c = [];
      res.on('data', (d) => c.push(d));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(c).toString() }));
    });
    req.on('error', (e) => (['EPIPE', 'ECONNRESET'].includes(e.code) ? resolve({ cut: true, code: e.code }) : reject(e)));
    const block = crypto.randomBytes(1 << 20);
    let n = 0;
    const pump = () => {
      while (n < sendMb) {
        n++;
        if (!req.write(block)) return req.once('drain', pump);
      }
      if (!cut) return req.end();
      // Let the bytes reach the server (and its parts the store) before going away.
      setTimeout(() => {
        req.destroy();
        resolve({ cut: true });
      }, 1500);
    };
    pump();
  });
}

/** Polls fn until it returns {ok: true}; the last {seen} goes into the failure. */
async function until(what, fn, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v.ok) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: last saw ${JSON.stringify(v.seen)}`);
    await sleep(100);
  }
}

for (const mode of ['local', 's3']) {
  describe(`datasets on the ${mode} store: uploads stream, and a failed one leaves nothing`, () => {
    // 5 MiB parts (the smallest S3 takes), so a few MiB already make a multipart upload.
    const env = { LOG_ACCESS: 'false', STORAGE_MAX_FILE_SIZE: '24M' };
    let s3 = null;
    if (mode === 's3') {
      before(async () => {
        s3 = await startS3();
        Object.assign(env, s3Env(s3, { STORAGE_MULTIPART_THRESHOLD: '5M' }));
      });
      after(async () => s3 && s3.stop());
    }
    const ctx = useServer(env);
    const bucket = `f-${mode}`;
    // Nothing half-written: no object, no upload in progress (S3), no temporary file (local).
    const leftovers = async (key) => {
      const g = await request(objUrl(ctx, bucket, key));
      const out = { object: g.status !== 404 };
      if (g.status !== 404) out.status = g.status;
      if (mode === 's3') out.uploads = (await s3.listUploads(bucket)).length;
      else out.tmp = fs.readdirSync(`${ctx.server.dataDir}/objects/.tmp`).length;
      return out;
    };
    const clean = mode === 's3' ? { object: false, uploads: 0 } : { object: false, tmp: 0 };

    it('parts sent in parallel assemble byte-exactly, raw and as a form', async () => {
      assert.equal((await request(ctx.server.url(`/datasets/${bucket}`), { method: 'POST' })).status, 201);
      const partsBefore = s3 ? s3.stats.parts : 0;
      // 23 MiB: four full 5 MiB parts and a short last one.
      const up = await bigUpload(objUrl(ctx, bucket, 'par/raw.bin'), 23);
      assert.equal(up.status, 201, up.text);
      assert.equal(up.json.size, 23 << 20);
      const down = await hashDownload(objUrl(ctx, bucket, 'par/raw.bin'));
      assert.equal(down.sha256, up.sha256, 'SHA-256 round-trip');
      if (s3) {
        assert.equal(s3.stats.parts - partsBefore, 5, 'five parts');
        console.log(`# s3: at most ${s3.stats.maxPartsInFlight} parts in flight at once`);
        assert.ok(s3.stats.maxPartsInFlight >= 2, `parts went one at a time (${s3.stats.maxPartsInFlight})`);
      }
      // A form whose file part spans several parts; the boundary lands anywhere in a read.
      const data = crypto.randomBytes((11 << 20) + 12345);
      const f = formBody('file', 'big.bin', 'application/x-big', data);
      const r = await request(objUrl(ctx, bucket, 'par/form.bin'), { method: 'PUT', body: f.body, headers: { 'content-type': f.ctype } });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json.size, data.length);
      assert.equal(r.json.content_type, 'application/x-big');
      const g = await request(objUrl(ctx, bucket, 'par/form.bin'));
      assert.ok(g.body.equals(data), 'form file bytes round-trip');
      assert.equal(g.headers['content-type'], 'application/x-big');
      assert.deepEqual(await leftovers('par/none'), clean);
    });

    it('a client that goes away mid-body leaves no object and no upload in progress', async () => {
      const abortsBefore = s3 ? s3.stats.aborts : 0;
      const r = await partialUpload(objUrl(ctx, bucket, 'cut/half.bin'), { sendMb: 12, declaredMb: 20, cut: true });
      assert.ok(r.cut, JSON.stringify(r));
      await until('the abandoned upload to be cleaned up', async () => {
        const l = await leftovers('cut/half.bin');
        return { ok: JSON.stringify(l) === JSON.stringify(clean), seen: l };
      });
      // The upload had reached the store in parts before the client left, and was aborted.
      if (s3) assert.equal(s3.stats.aborts - abortsBefore, 1, 'one AbortMultipartUpload');
      // Under one part with a declared size: a single PUT streamed as the bytes come, cut.
      const small = await partialUpload(objUrl(ctx, bucket, 'cut/small.bin'), { sendMb: 2, declaredMb: 4, cut: true });
      assert.ok(small.cut, JSON.stringify(small));
      await until('the abandoned single PUT to leave nothing', async () => {
        const l = await leftovers('cut/small.bin');
        return { ok: JSON.stringify(l) === JSON.stringify(clean), seen: l };
      });
      assert.equal((await put(ctx, bucket, 'cut/after.bin', 'still fine')).status, 201);
    });

    it('413 mid-stream (no Content-Length) leaves nothing behind', async () => {
      const abortsBefore = s3 ? s3.stats.aborts : 0;
      const r = await partialUpload(objUrl(ctx, bucket, 'big/too.bin'), { sendMb: 40 });
      if (!r.cut) {
        assert.equal(r.status, 413, r.text);
        assert.equal(JSON.parse(r.text).error, 'payload_too_large');
        assert.match(JSON.parse(r.text).detail, /STORAGE_MAX_FILE_SIZE/);
      }
      await until('the refused upload to be cleaned up', async () => {
        const l = await leftovers('big/too.bin');
        return { ok: JSON.stringify(l) === JSON.stringify(clean), seen: l };
      });
      if (s3) assert.equal(s3.stats.aborts - abortsBefore, 1, 'the parts already sent were aborted');
    });

    stopsCleanly(ctx);
  });
}
