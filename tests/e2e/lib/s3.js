// A real S3 server for the tests, on loopback: s3rver (npm) behind a verifying front.
//
//   const s3 = await startS3();            // { endpoint: '127.0.0.1:PORT', accessKey, ... }
//   ... point the server at it: STORAGE_BACKEND=s3, STORAGE_MINIO_ENDPOINT=s3.endpoint ...
//   await s3.pause(); await s3.resume();   // an outage: connections refused, then back
//   await s3.listUploads(bucket);          // multipart uploads in progress (S3 API, signed)
//   await s3.stop();
//
// s3rver checks access key ids but not SigV4 signatures, and it demands the
// x-amz-content-sha256 header. The front recomputes every request's signature with AWS's own
// signer (@smithy/signature-v4 + @aws-crypto/sha256-js), over exactly the headers the
// request says it signed, and answers S3's SignatureDoesNotMatch error (403) on a mismatch;
// otherwise it proxies the request to s3rver, streaming bodies both ways. So our signing is
// checked by an independent implementation. s3rver 3.7 lacks ListMultipartUploads and
// AbortMultipartUpload (it answers NotImplemented / MethodNotAllowed); the front serves both
// from s3rver's own record of uploads in progress (a directory per upload id), so the tests
// can see whether an upload was left half-done.
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const S3_ACCESS_KEY = 'S3RVER'; // s3rver's built-in account
export const S3_SECRET_KEY = 'S3RVER';
export const S3_REGION = 'us-east-1';

function s3Error(res, status, code, message) {
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message><RequestId>front</RequestId></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Parses "AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/s3/aws4_request, SignedHeaders=a;b, Signature=hex". */
export function parseAuthorization(h) {
  const m = /^AWS4-HMAC-SHA256 (.*)$/.exec(h || '');
  if (!m) return null;
  const parts = {};
  for (const kv of m[1].split(/,\s*/)) {
    const i = kv.indexOf('=');
    if (i > 0) parts[kv.slice(0, i).trim()] = kv.slice(i + 1).trim();
  }
  if (!parts.Credential || !parts.SignedHeaders || !parts.Signature) return null;
  const [accessKeyId, date, region, service] = parts.Credential.split('/');
  return { accessKeyId, date, region, service, signedHeaders: parts.SignedHeaders.split(';'), signature: parts.Signature };
}

/** Recomputes the signature of an incoming request; resolves {ok, reason}. */
export async function verifySigV4(req, { accessKey, secretKey, region }) {
  const auth = parseAuthorization(req.headers.authorization);
  if (!auth) return { ok: false, code: 'AccessDenied', reason: 'no AWS4-HMAC-SHA256 Authorization header' };
  if (auth.accessKeyId !== accessKey)
    return { ok: false, code: 'InvalidAccessKeyId', reason: 'The AWS Access Key Id you provided does not exist in our records.' };
  if (!req.headers['x-amz-content-sha256'])
    return { ok: false, code: 'InvalidRequest', reason: 'Missing required header for this request: x-amz-content-sha256' };
  const amzDate = req.headers['x-amz-date'];
  const dm = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate || '');
  if (!dm) return { ok: false, code: 'AccessDenied', reason: 'bad or missing x-amz-date' };
  const signingDate = new Date(Date.UTC(+dm[1], +dm[2] - 1, +dm[3], +dm[4], +dm[5], +dm[6]));
  const rawUrl = req.url;
  const qi = rawUrl.indexOf('?');
  const rawPath = qi < 0 ? rawUrl : rawUrl.slice(0, qi);
  const query = {};
  if (qi >= 0) {
    for (const pair of rawUrl.slice(qi + 1).split('&')) {
      if (!pair) continue;
      const e = pair.indexOf('=');
      const k = decodeURIComponent(e < 0 ? pair : pair.slice(0, e));
      const v = e < 0 ? '' : decodeURIComponent(pair.slice(e + 1));
      if (k in query) query[k] = [].concat(query[k], v);
      else query[k] = v;
    }
  }
  const headers = {};
  for (const name of auth.signedHeaders) {
    const v = req.headers[name];
    if (v === undefined) return { ok: false, code: 'SignatureDoesNotMatch', reason: `signed header ${name} is missing` };
    headers[name] = Array.isArray(v) ? v.join(',') : String(v);
  }
  const [hostname, port] = String(req.headers.host || '').split(':');
  const signer = new SignatureV4({
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    region,
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false, // S3 signs the path as sent, without a second encoding
    applyChecksum: false,
  });
  const signed = await signer.sign(
    { method: req.method, protocol: 'http:', hostname, port: port ? Number(port) : undefined, path: rawPath, query, headers },
    { signingDate, signingRegion: region, signingService: 's3' }
  );
  const want = parseAuthorization(signed.headers.authorization);
  const sameHeaders = want && want.signedHeaders.join(';') === auth.signedHeaders.join(';');
  if (!want || !sameHeaders || want.signature !== auth.signature)
    return {
      ok: false,
      code: 'SignatureDoesNotMatch',
      reason: 'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      detail: { got: auth, want, rawPath, query },
    };
  return { ok: true, signedHeaders: auth.signedHeaders };
}

/**
 * s3rver in a child process: its continuation tokens use DES, which Node 20's OpenSSL 3
 * only offers with --openssl-legacy-provider (in-process, every listing with a next page
 * fails with ERR_OSSL_EVP_UNSUPPORTED). DLB_S3_LOG=1 shows its request log.
 */
function startBackend(dir) {
  const code = `
    import S3rver from 's3rver';
    const s = new S3rver({ address: '127.0.0.1', port: 0, silent: process.env.DLB_S3_LOG !== '1',
                           directory: ${JSON.stringify(dir)} });
    const a = await s.run();
    process.stdout.write(JSON.stringify({ port: a.port }) + '\\n');
    process.on('SIGTERM', () => s.close().finally(() => process.exit(0)));
  `;
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '--input-type=module', '-e', code], {
    cwd: E2E_DIR,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((r) => child.on('exit', r));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('s3rver did not start within 15 s')), 15000);
    child.on('error', reject);
    child.on('exit', (c) => reject(new Error(`s3rver exited with ${c} before it listened`)));
    child.stdout.on('data', (d) => {
      out += d;
      const i = out.indexOf('\n');
      if (i < 0) return;
      clearTimeout(timer);
      const { port } = JSON.parse(out.slice(0, i));
      child.stdout.resume();
      resolve({
        port,
        async close() {
          if (child.exitCode === null) child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 3000);
          await exited;
          clearTimeout(t);
        },
      });
    });
  });
}

/**
 * Starts s3rver and the verifying front. Options: accessKey/secretKey/region the front
 * accepts (the server under test may be given other ones to see the refusal).
 */
export async function startS3({ accessKey = S3_ACCESS_KEY, secretKey = S3_SECRET_KEY, region = S3_REGION } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dlb-s3rver-'));
  const backend = await startBackend(dir);
  const baddr = { port: backend.port };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const stats = {
    requests: 0,
    verified: 0,
    rejected: 0,
    lastRejection: null,
    signedHeaders: new Set(),
    objectWrites: 0,
    sseWrites: 0,
    parts: 0,
    partsInFlight: 0,
    maxPartsInFlight: 0,
    aborts: 0,
  };
  const sockets = new Set();
  const uploadsDir = (bucket) => path.join(dir, bucket, '._S3rver_uploads');
  const partsOf = new Map(); // upload id -> part requests being proxied
  const xmlEsc = (t) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

  // ListMultipartUploads: every upload directory s3rver holds for the bucket.
  const listUploads = (res, bucket) => {
    let ids = [];
    try {
      ids = fs.readdirSync(uploadsDir(bucket));
    } catch {
      /* none yet */
    }
    const rows = ids.map((id) => {
      let key = '';
      try {
        key = fs.readFileSync(path.join(uploadsDir(bucket), id, 'key'), 'utf8');
      } catch {
        /* parts without their record: still a leftover */
      }
      return `<Upload><Key>${xmlEsc(key)}</Key><UploadId>${xmlEsc(id)}</UploadId></Upload>`;
    });
    res.writeHead(200, { 'content-type': 'application/xml' });
    res.end(
      '<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
        `<Bucket>${xmlEsc(bucket)}</Bucket>${rows.join('')}</ListMultipartUploadsResult>`
    );
  };
  // AbortMultipartUpload: as S3, once the part uploads still running have ended.
  const abortUpload = async (res, bucket, id) => {
    const d = path.join(uploadsDir(bucket), path.basename(id));
    if (!fs.existsSync(d)) return s3Error(res, 404, 'NoSuchUpload', 'The specified upload does not exist.');
    for (let i = 0; i < 500 && partsOf.get(id); i++) await new Promise((r) => setTimeout(r, 10));
    fs.rmSync(d, { recursive: true, force: true });
    stats.aborts++;
    res.writeHead(204);
    res.end();
  };

  const front = http.createServer(async (req, res) => {
    stats.requests++;
    let v;
    try {
      v = await verifySigV4(req, { accessKey, secretKey, region });
    } catch (e) {
      v = { ok: false, code: 'InternalError', reason: `verifier failed: ${e.message}` };
    }
    if (!v.ok) {
      stats.rejected++;
      stats.lastRejection = v;
      req.resume(); // read and drop the body so the client sees the answer
      const status = v.code === 'InvalidRequest' ? 400 : v.code === 'InternalError' ? 500 : 403;
      return s3Error(res, status, v.code, v.reason);
    }
    stats.verified++;
    for (const h of v.signedHeaders) stats.signedHeaders.add(h);
    const u = new URL(req.url, 'http://front');
    const segs = u.pathname.split('/').filter(Boolean);
    if (req.method === 'GET' && segs.length === 1 && u.searchParams.has('uploads')) return listUploads(res, decodeURIComponent(segs[0]));
    if (req.method === 'DELETE' && segs.length >= 2 && u.searchParams.has('uploadId')) {
      req.resume();
      return abortUpload(res, decodeURIComponent(segs[0]), u.searchParams.get('uploadId'));
    }
    const partOf = req.method === 'PUT' && u.searchParams.has('partNumber') ? u.searchParams.get('uploadId') : null;
    if (partOf) {
      partsOf.set(partOf, (partsOf.get(partOf) || 0) + 1);
      stats.partsInFlight++;
      stats.maxPartsInFlight = Math.max(stats.maxPartsInFlight, stats.partsInFlight);
    }
    let ended = false;
    const partDone = () => {
      if (!partOf || ended) return;
      ended = true;
      partsOf.set(partOf, partsOf.get(partOf) - 1);
      stats.partsInFlight--;
    };
    // Writes of object bytes (PUT object or part, multipart initiation) for the SSE check.
    if (req.method === 'PUT' || (req.method === 'POST' && /[?&]uploads=/.test(req.url))) {
      const isPart = /[?&]partNumber=/.test(req.url);
      const isBucket = req.url.split('?')[0].split('/').filter(Boolean).length < 2;
      if (!isPart && !isBucket) {
        stats.objectWrites++;
        if (req.headers['x-amz-server-side-encryption'] === 'AES256') stats.sseWrites++;
      }
      if (isPart) stats.parts++;
    }
    const up = http.request(
      { host: '127.0.0.1', port: baddr.port, method: req.method, path: req.url, headers: req.headers, agent },
      (ures) => {
        res.writeHead(ures.statusCode, ures.headers);
        ures.pipe(res);
        ures.on('end', partDone);
        ures.on('close', partDone);
      }
    );
    up.on('error', (e) => {
      partDone();
      if (!res.headersSent) s3Error(res, 502, 'InternalError', `backend: ${e.message}`);
      else res.destroy();
    });
    // A client that gives up mid-body: s3rver sees the request cut, as it would directly.
    req.on('close', () => {
      if (!req.complete) up.destroy();
    });
    req.pipe(up);
  });
  front.keepAliveTimeout = 30000;
  front.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const listen = (port) =>
    new Promise((resolve, reject) => {
      front.once('error', reject);
      front.listen(port, '127.0.0.1', () => {
        front.off('error', reject);
        resolve(front.address().port);
      });
    });
  const port = await listen(0);
  let paused = false;

  return {
    endpoint: `127.0.0.1:${port}`,
    port,
    accessKey,
    secretKey,
    region,
    stats,
    /** Keys (with sizes) of a bucket straight from s3rver (ListObjectsV2, signed here); null when the bucket is missing. */
    async listObjects(bucket, prefix = '') {
      const out = [];
      let token = null;
      for (;;) {
        const query = { 'list-type': '2', prefix };
        if (token) query['continuation-token'] = token;
        const r = await signedRequest({ port: baddr.port, accessKey, secretKey, region, method: 'GET', path: `/${bucket}`, query });
        if (r.status === 404) return null;
        if (r.status !== 200) throw new Error(`ListObjectsV2 ${bucket}: ${r.status} ${r.body}`);
        for (const m of r.body.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
          const key = /<Key>([\s\S]*?)<\/Key>/.exec(m[1])[1];
          const size = Number(/<Size>(\d+)<\/Size>/.exec(m[1])[1]);
          out.push({ key: key.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>'), size });
        }
        const next = /<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(r.body);
        if (!/<IsTruncated>true<\/IsTruncated>/.test(r.body) || !next) break;
        token = next[1];
      }
      return out;
    },
    /** Multipart uploads in progress in a bucket, [{ key, uploadId }], via ListMultipartUploads signed here. */
    async listUploads(bucket) {
      const r = await signedRequest({ port, accessKey, secretKey, region, method: 'GET', path: `/${bucket}`, query: { uploads: '' } });
      if (r.status !== 200) throw new Error(`ListMultipartUploads ${bucket}: ${r.status} ${r.body}`);
      return [...r.body.matchAll(/<Upload><Key>([\s\S]*?)<\/Key><UploadId>([\s\S]*?)<\/UploadId><\/Upload>/g)].map((m) => ({
        key: m[1].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'),
        uploadId: m[2],
      }));
    },
    /** The store goes away: the port refuses connections and open ones are cut. */
    async pause() {
      if (paused) return;
      paused = true;
      const closed = new Promise((r) => front.close(() => r()));
      for (const s of sockets) s.destroy();
      await closed;
    },
    async resume() {
      if (!paused) return;
      await listen(port);
      paused = false;
    },
    async stop() {
      if (!paused) {
        paused = true;
        const closed = new Promise((r) => front.close(() => r()));
        for (const s of sockets) s.destroy();
        await closed;
      }
      agent.destroy();
      await backend.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A request signed with AWS's signer, sent straight to s3rver (the tests' own view of the store). */
async function signedRequest({ port, accessKey, secretKey, region, method, path: p, query = {} }) {
  const signer = new SignatureV4({
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    region,
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  const headers = { host: `127.0.0.1:${port}`, 'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' };
  const signed = await signer.sign({ method, protocol: 'http:', hostname: '127.0.0.1', port, path: p, query, headers });
  const qs = Object.entries(query)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: qs ? `${p}?${qs}` : p, headers: signed.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The server settings that point ducklake-backend at s3. */
export function s3Env(s3, over = {}) {
  return {
    STORAGE_BACKEND: 's3',
    STORAGE_MINIO_ENDPOINT: s3.endpoint,
    STORAGE_MINIO_ACCESS_KEY: s3.accessKey,
    STORAGE_MINIO_SECRET_KEY: s3.secretKey,
    STORAGE_MINIO_REGION: s3.region,
    STORAGE_MINIO_SECURE: 'false',
    ...over,
  };
}
