// Helpers of the /datasets e2e suites: object URLs, uploads (small, form-data, streamed
// big ones with their hash) and hashed downloads that never hold a body whole.
import crypto from 'node:crypto';
import http from 'node:http';
import { request } from './server.js';

export const enc = (key) => key.split('/').map(encodeURIComponent).join('/');

export function objUrl(ctx, bucket, key) {
  return ctx.server.url(`/datasets/${bucket}/${enc(key)}`);
}

export async function put(ctx, bucket, key, body, headers = {}) {
  return request(objUrl(ctx, bucket, key), { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream', ...headers } });
}

export function formBody(field, filename, ctype, data) {
  const boundary = `----dlb${crypto.randomBytes(8).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\n` +
      `Content-Type: ${ctype}\r\n\r\n`
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { body: Buffer.concat([head, data, tail]), ctype: `multipart/form-data; boundary=${boundary}` };
}

/** Streams `mb` MiB of pseudo-random bytes as a PUT body; resolves {status, json, sha256}. */
export function bigUpload(url, mb) {
  return new Promise((resolve, reject) => {
    const block = crypto.randomBytes(1 << 20);
    const hash = crypto.createHash('sha256');
    const req = http.request(url, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': mb * (1 << 20) },
      agent: false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode, json, text, sha256: hash.digest('hex') });
      });
    });
    let sent = 0;
    const pump = () => {
      while (sent < mb) {
        // Each MiB differs (its index in the first bytes), so a misplaced block shows.
        block.writeUInt32LE(sent, 0);
        hash.update(block);
        sent++;
        if (!req.write(Buffer.from(block))) return req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

/** GETs url, hashing the body as it arrives (never held whole). */
export function hashDownload(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        const hash = crypto.createHash('sha256');
        let n = 0;
        res.on('data', (c) => {
          hash.update(c);
          n += c.length;
        });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, bytes: n, sha256: hash.digest('hex') }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}
