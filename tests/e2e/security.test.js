// Authentication, roles over the whole route table, revocation, rate limits, connection caps,
// the slow-client guard, the audit trail and HTTPS.
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { BIN, expectError, fetchJson, makeTmpDir, request, serverEnv, sleep, stopsCleanly, useServer } from './lib/server.js';

// One data directory (and PostgreSQL schema) shared by the key command line and the server.
function sharedEnv(extra = {}) {
  const env = { DATA_DIR: makeTmpDir('dlb-sec-'), ...extra };
  if (process.env.DB_POSTGRES_HOST) env.DB_POSTGRES_SCHEMA = `t_${randomBytes(6).toString('hex')}`;
  return env;
}

function keysCli(env, args) {
  const r = spawnSync(BIN, ['keys', ...args], { env: serverEnv(env), encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, `keys ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

const ROLES = { public: 0, reader: 1, writer: 2, admin: 3 };

function routeTable() {
  const out = execFileSync(BIN, ['--routes'], { encoding: 'utf8' });
  return out.trim().split('\n').map((l) => JSON.parse(l));
}

function concretePath(pattern) {
  return pattern.replace(/\{[^}]*\*\}/g, 'x/y').replace(/\{[^}]*\}/g, 'x');
}

describe('authentication and roles', () => {
  const env = sharedEnv({ FEATURE_ENABLE_AUTHENTICATION: 'true', DEBUG: 'true', SSE_PING_INTERVAL: '0' });
  const keys = {};
  for (const role of ['reader', 'writer', 'admin']) keys[role] = keysCli(env, ['create', '--name', `k-${role}`, '--role', role]);
  const ctx = useServer(env);

  it('every route declares a known role', () => {
    const routes = routeTable();
    assert.ok(routes.length > 30, `route table has ${routes.length} rows`);
    for (const r of routes) assert.ok(r.role in ROLES, `${r.method} ${r.pattern} declares role '${r.role}'`);
  });

  it('each route answers 401 without a key, 403 below its role, and passes at its role', async () => {
    const routes = routeTable();
    for (const r of routes) {
      const url = ctx.server.url(concretePath(r.pattern));
      const body = ['POST', 'PUT', 'PATCH'].includes(r.method) ? '{}' : undefined;
      const headers = body ? { 'content-type': 'application/json' } : {};
      // Streams would never end: check them with a short timeout and accept a cut connection.
      const call = async (key) => {
        const h = { ...headers };
        if (key) h.authorization = `Bearer ${key}`;
        try {
          return await request(url, { method: r.method, headers: h, body, timeout: r.stream ? 1500 : 20000 });
        } catch (e) {
          if (r.stream && /timed out/.test(e.message)) return { status: 200, streamed: true };
          throw e;
        }
      };
      const need = ROLES[r.role];
      const anon = await call(null);
      if (need === 0) {
        assert.notEqual(anon.status, 401, `${r.method} ${r.pattern} is public`);
      } else {
        assert.equal(anon.status, 401, `${r.method} ${r.pattern} without a key: ${anon.text}`);
        assert.match(anon.headers['www-authenticate'] || '', /^Bearer/);
      }
      for (const [role, rank] of Object.entries({ reader: 1, writer: 2, admin: 3 })) {
        const res = await call(keys[role]);
        if (rank < need) {
          assert.equal(res.status, 403, `${r.method} ${r.pattern} as ${role}: ${res.text}`);
          assert.match(res.json.detail, new RegExp(`needs the ${r.role} role`));
        } else {
          assert.ok(res.status !== 401 && res.status !== 403, `${r.method} ${r.pattern} as ${role}: ${res.status} ${res.text}`);
        }
      }
    }
  });

  it('accepts the key in the X-API-Key header, and in the URL only for event streams', async () => {
    let r = await fetchJson(ctx.server.url('/tables'), { headers: { 'x-api-key': keys.reader } });
    assert.equal(r.status, 200, r.text);
    r = await fetchJson(ctx.server.url(`/tables?api_key=${keys.reader}`));
    assert.equal(r.status, 401, 'query keys are for event streams only');
    const res = await request(ctx.server.url(`/events/stats?api_key=${keys.reader}`));
    assert.equal(res.status, 200, res.text);
  });

  it('refuses malformed and unknown keys', async () => {
    // the last hex digit changed (a '1' becomes '0', anything else '1'), a character added
    const changed = keys.reader.slice(0, -1) + (keys.reader.endsWith('1') ? '0' : '1');
    assert.notEqual(changed, keys.reader);
    for (const k of ['nope', 'dlb_', 'dlb_abc_', `${keys.reader}x`, changed]) {
      const r = await fetchJson(ctx.server.url('/tables'), { headers: { authorization: `Bearer ${k}` } });
      assert.equal(r.status, 401, `key ${k.slice(0, 12)}...: ${r.status}`);
      expectError(assert, r, 401, 'unauthorized');
    }
  });

  it('creates keys through /admin/keys, lists them without secrets, and a revoked key stops at once', async () => {
    const admin = { authorization: `Bearer ${keys.admin}` };
    const made = await fetchJson(ctx.server.url('/admin/keys'), { method: 'POST', headers: admin, json: { name: 'temp', role: 'reader' } });
    assert.equal(made.status, 201, made.text);
    const key = made.json.key;
    assert.match(key, /^dlb_[0-9a-f]+_[0-9a-f]+$/);
    assert.equal((await fetchJson(ctx.server.url('/tables'), { headers: { authorization: `Bearer ${key}` } })).status, 200);
    const list = await fetchJson(ctx.server.url('/admin/keys'), { headers: admin });
    assert.equal(list.status, 200);
    assert.ok(list.json.keys.some((k) => k.key_id === made.json.key_id && k.role === 'reader'));
    for (const k of Object.values(keys).concat([key])) assert.ok(!list.text.includes(k.split('_')[2]), 'no secret in the listing');
    const del = await request(ctx.server.url(`/admin/keys/${made.json.key_id}`), { method: 'DELETE', headers: admin });
    assert.equal(del.status, 204);
    const after = await fetchJson(ctx.server.url('/tables'), { headers: { authorization: `Bearer ${key}` } });
    expectError(assert, after, 401, 'unauthorized');
    const again = await fetchJson(ctx.server.url(`/admin/keys/${made.json.key_id}`), { method: 'DELETE', headers: admin });
    expectError(assert, again, 404, 'key_not_found');
    const bad = await fetchJson(ctx.server.url('/admin/keys'), { method: 'POST', headers: admin, json: { name: 'x', role: 'root' } });
    expectError(assert, bad, 422, 'invalid_role');
  });

  it('a key revoked on the command line stops working within about a second', async () => {
    const key = keysCli(env, ['create', '--name', 'cli', '--role', 'reader']);
    await sleep(1300);
    assert.equal((await fetchJson(ctx.server.url('/tables'), { headers: { authorization: `Bearer ${key}` } })).status, 200);
    const id = key.split('_')[1];
    keysCli(env, ['revoke', id]);
    await sleep(1300);
    const r = await fetchJson(ctx.server.url('/tables'), { headers: { authorization: `Bearer ${key}` } });
    expectError(assert, r, 401, 'unauthorized');
  });

  it('writes an audit line per state-changing request, and no key appears in logs', async () => {
    await fetchJson(ctx.server.url('/tables'), { method: 'POST', headers: { authorization: `Bearer ${keys.writer}` }, json: { name: 'audited', schema: { a: 'INTEGER' } } });
    await sleep(200);
    const audit = ctx.server.jsonLogs().filter((l) => l.log === 'audit');
    const line = audit.find((l) => l.route === '/tables' && l.action === 'POST' && l.result === 201);
    assert.ok(line, `audit line for POST /tables: ${JSON.stringify(audit.slice(-3))}`);
    assert.equal(line.who, 'k-writer');
    assert.equal(line.role, 'writer');
    assert.ok(line.key_id && line.request_id);
    // A query is a POST but changes nothing: no audit line.
    const q = await fetchJson(ctx.server.url('/tables/audited/query'), { method: 'POST', headers: { authorization: `Bearer ${keys.reader}` }, json: { query: 'SELECT count(*) AS n FROM audited' } });
    assert.equal(q.status, 200, q.text);
    await sleep(200);
    assert.ok(!ctx.server.jsonLogs().some((l) => l.log === 'audit' && l.route === '/tables/{name}/query'), 'no audit line for a query');
    const all = ctx.server.output();
    for (const k of Object.values(keys)) assert.ok(!all.includes(k.split('_')[2]), 'a key secret appears in the output');
  });

  it('health probes stay open', async () => {
    for (const p of ['/health/live', '/health/ready', '/health', '/']) {
      const r = await fetchJson(ctx.server.url(p));
      assert.equal(r.status, 200, `${p}: ${r.text}`);
    }
  });

  stopsCleanly(ctx);
});

describe('rate limits and connection caps', () => {
  const ctx = useServer({
    FEATURE_ENABLE_RATE_LIMITING: 'true',
    SECURITY_RATE_LIMIT_REQUESTS: '5',
    SECURITY_RATE_LIMIT_WINDOW: '60',
    SECURITY_RATE_LIMIT_BURST: '5',
    HTTP_MAX_CONNECTIONS_PER_IP: '4',
  });

  it('answers 429 with Retry-After once the bucket is empty', async () => {
    const codes = [];
    let limited;
    for (let i = 0; i < 8; i++) {
      const r = await fetchJson(ctx.server.url('/tables'));
      codes.push(r.status);
      if (r.status === 429) limited = r;
    }
    assert.deepEqual(codes.slice(0, 5), [200, 200, 200, 200, 200], codes.join(','));
    assert.ok(limited, `429 after the burst: ${codes.join(',')}`);
    expectError(assert, limited, 429, 'rate_limited');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  });

  it('answers 429 to connections beyond the per-address cap', async () => {
    const socks = [];
    for (let i = 0; i < 4; i++) {
      const s = net.connect(ctx.server.port, '127.0.0.1');
      await new Promise((res) => s.once('connect', res));
      socks.push(s);
    }
    await sleep(100);
    const r = await request(ctx.server.url('/health/live'));
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json.error, 'too_many_connections');
    for (const s of socks) s.destroy();
    await sleep(300);
    assert.equal((await request(ctx.server.url('/health/live'))).status, 200);
  });

  stopsCleanly(ctx);
});

describe('slow clients', () => {
  const ctx = useServer({ HTTP_HEADER_TIMEOUT: '2' });

  it('drops a client that drips its headers, while others are served', async () => {
    const s = net.connect(ctx.server.port, '127.0.0.1');
    await new Promise((res) => s.once('connect', res));
    let closed = false;
    s.on('close', () => (closed = true));
    s.on('error', () => {});
    s.write('GET /health/live HTTP/1.1\r\nHost: x\r\n');
    const t0 = Date.now();
    while (!closed && Date.now() - t0 < 8000) {
      s.write('X-Drip: 1\r\n');
      const r = await fetchJson(ctx.server.url('/health/live'));
      assert.equal(r.status, 200, 'another client is served meanwhile');
      await sleep(500);
    }
    assert.ok(closed, 'the dripping connection was closed');
    const waited = Date.now() - t0;
    assert.ok(waited >= 1500 && waited < 5000, `dropped after ${waited} ms with a 2 s deadline`);
  });

  stopsCleanly(ctx);
});

describe('HTTPS', () => {
  const dir = makeTmpDir('dlb-tls-');
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  const ctx = useServer({ SECURITY_TLS_CERT_FILE: cert, SECURITY_TLS_KEY_FILE: key }, { https: true });

  it('serves HTTPS that curl verifies with the certificate', () => {
    const out = execFileSync('curl', ['-sS', '--cacert', cert, `https://127.0.0.1:${ctx.server.port}/health/live`], { encoding: 'utf8' });
    assert.equal(JSON.parse(out).status, 'alive');
    const plain = spawnSync('curl', ['-sS', '-m', '3', `https://127.0.0.1:${ctx.server.port}/health/live`], { encoding: 'utf8' });
    assert.notEqual(plain.status, 0, 'an unknown certificate is refused without --cacert');
  });

  it('answers with TLS to Node as well', async () => {
    const body = await new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: ctx.server.port, path: '/', ca: fs.readFileSync(cert) }, (res) => {
        let b = '';
        res.on('data', (c) => (b += c));
        res.on('end', () => resolve(b));
      }).on('error', reject);
    });
    assert.equal(JSON.parse(body).name, 'ducklake-backend');
  });

  stopsCleanly(ctx);
});
