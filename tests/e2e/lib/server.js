// Test harness: starts the real ducklake-backend binary and talks to it.
//
//   const ctx = useServer({ DEBUG: 'true' });   // inside describe(): before/after hooks
//   const res = await fetchJson(ctx.server.url('/health'));
//
// Every server runs on a free loopback port with a fresh temporary DATA_DIR (also its
// working directory, so no stray .env is read) and inherits process.env, so the
// PostgreSQL settings exported by scripts/run-e2e.sh pass through; on PostgreSQL each
// start gets its own random DB_POSTGRES_SCHEMA. With DLB_ASAN=1 a test fails as soon as
// the server's stderr holds a sanitizer report.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { after, afterEach, before, it } from 'node:test';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = process.env.DLB_BIN
  ? path.resolve(process.env.DLB_BIN)
  : path.join(REPO_ROOT, 'build/ducklake-backend');
export const BACKEND =
  process.env.DLB_E2E_BACKEND || (process.env.DB_POSTGRES_HOST ? 'postgres' : 'sqlite');
export const ASAN = process.env.DLB_ASAN === '1';
export const VERSION = fs.readFileSync(path.join(REPO_ROOT, 'VERSION'), 'utf8').trim();

const READY_TIMEOUT_MS = 15000;
const SANITIZER_RE = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:/;

const live = new Set(); // servers and processes not yet reaped
const tmpDirs = new Set();

function cleanupSync() {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  live.clear();
  if (process.env.DLB_KEEP_DATA !== '1')
    for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
  tmpDirs.clear();
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    cleanupSync();
    process.exit(128 + (os.constants.signals[sig] || 1));
  });
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Like sleep, but does not keep the process alive (for races against a timeout). */
function deadline(ms) {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** A port that was free a moment ago (listen on 0, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function makeTmpDir(prefix = 'dlb-e2e-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.add(d);
  return d;
}

function sanitizerEnv() {
  if (!ASAN) return {};
  return {
    ASAN_OPTIONS: process.env.ASAN_OPTIONS || 'detect_leaks=1:abort_on_error=0:halt_on_error=1',
    UBSAN_OPTIONS: process.env.UBSAN_OPTIONS || 'halt_on_error=1:print_stacktrace=1',
  };
}

/** The environment a server (or a one-shot run of the binary) gets. */
export function serverEnv(extra = {}, { dataDir, port } = {}) {
  const env = { ...process.env, ...sanitizerEnv() };
  // Test-runner internals must not leak into the server.
  for (const k of Object.keys(env)) if (k.startsWith('NODE_TEST')) delete env[k];
  if (env.DB_POSTGRES_HOST) env.DB_POSTGRES_SCHEMA = `t_${randomBytes(6).toString('hex')}`;
  if (dataDir) env.DATA_DIR = dataDir;
  env.HOST = '127.0.0.1';
  if (port) env.PORT = String(port);
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined || v === null) delete env[k];
    else env[k] = String(v);
  }
  return env;
}

function splitLines(onLine) {
  let rest = '';
  return {
    push(chunk) {
      rest += chunk;
      let i;
      while ((i = rest.indexOf('\n')) >= 0) {
        onLine(rest.slice(0, i));
        rest = rest.slice(i + 1);
      }
    },
    flush() {
      if (rest) onLine(rest);
      rest = '';
    },
  };
}

export function sanitizerReport(text) {
  const m = SANITIZER_RE.exec(text);
  if (!m) return null;
  return text.slice(Math.max(0, m.index - 200), m.index + 4000);
}

export class Server {
  constructor(env, opts = {}) {
    this.extraEnv = env;
    this.args = opts.args || [];
    this.scheme = opts.https ? 'https' : 'http';
    this.lines = []; // {stream, text, json, t}
    this.exit = null; // {code, signal}
  }

  url(p = '/') {
    return `${this.scheme}://127.0.0.1:${this.port}${p}`;
  }

  /** All captured lines: [{stream: 'stdout'|'stderr', text, json (parsed or null), t}]. */
  logs() {
    return this.lines;
  }

  /** Captured stdout lines parsed as JSON (lines that are not JSON are left out). */
  jsonLogs() {
    return this.lines.filter((l) => l.stream === 'stdout' && l.json).map((l) => l.json);
  }

  stdout() {
    return this.lines.filter((l) => l.stream === 'stdout').map((l) => l.text).join('\n');
  }

  stderr() {
    return this.lines.filter((l) => l.stream === 'stderr').map((l) => l.text).join('\n');
  }

  output() {
    return this.lines.map((l) => `[${l.stream}] ${l.text}`).join('\n');
  }

  tail(n = 60) {
    const out = this.lines.slice(-n).map((l) => `[${l.stream}] ${l.text}`);
    return out.length ? out.join('\n') : '(no output)';
  }

  get pid() {
    return this.proc?.pid;
  }

  get running() {
    return this.proc && this.exit === null;
  }

  async start() {
    for (let attempt = 1; ; attempt++) {
      try {
        await this._startOnce();
        return this;
      } catch (e) {
        // a port taken between freePort() and bind(), or the binary being relinked (make)
        const retry = /address already in use|EADDRINUSE|bind|spawn error: .*(ETXTBSY|EACCES|ENOENT)/i.test(this.output());
        if (!retry || attempt >= 3) throw e;
        await sleep(1000 * attempt);
      }
    }
  }

  async _startOnce() {
    this.lines = [];
    this.exit = null;
    this.port = await freePort();
    this.dataDir = makeTmpDir();
    this.env = serverEnv(this.extraEnv, { dataDir: this.dataDir, port: this.port });
    if (!fs.existsSync(BIN)) throw new Error(`server binary not found: ${BIN} (set DLB_BIN)`);
    const proc = spawn(BIN, this.args, {
      cwd: this.dataDir,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    live.add(proc);
    let exitResolve, closeResolve;
    this.exited = new Promise((resolve) => {
      exitResolve = resolve;
      proc.on('exit', (code, signal) => {
        live.delete(proc);
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    // 'close' fires after both pipes are drained: stop() waits for it so logs are complete.
    this.closed = new Promise((resolve) => {
      closeResolve = resolve;
      proc.on('close', resolve);
    });
    proc.on('error', (e) => {
      // spawn failures (ENOENT, EACCES while the binary is being relinked...) emit no 'exit'
      this.lines.push({ stream: 'stderr', text: `spawn error: ${e.message}`, json: null, t: Date.now() });
      if (this.exit === null && proc.pid === undefined) {
        live.delete(proc);
        this.exit = { code: null, signal: null, error: e };
        exitResolve(this.exit);
        closeResolve();
      }
    });
    for (const stream of ['stdout', 'stderr']) {
      const sp = splitLines((text) => {
        let json = null;
        if (stream === 'stdout' && text.startsWith('{')) {
          try {
            json = JSON.parse(text);
          } catch {
            json = null;
          }
        }
        this.lines.push({ stream, text, json, t: Date.now() });
      });
      proc[stream].setEncoding('utf8');
      proc[stream].on('data', (c) => sp.push(c));
      proc[stream].on('end', () => sp.flush());
    }

    const deadline = Date.now() + READY_TIMEOUT_MS;
    let lastErr = '';
    while (Date.now() < deadline) {
      if (this.exit) {
        await Promise.race([this.closed, new Promise((r) => setTimeout(r, 500).unref())]); // (deadline is shadowed here)
        throw new Error(
          `server exited during start-up (code ${this.exit.code}, signal ${this.exit.signal})\n${this.tail()}`
        );
      }
      try {
        const r = await request(this.url('/health/live'), { timeout: 1000, insecure: true });
        if (r.status === 200) return;
        lastErr = `GET /health/live answered ${r.status}: ${r.text.slice(0, 200)}`;
      } catch (e) {
        lastErr = e.message;
      }
      await sleep(50);
    }
    this.kill();
    await Promise.race([this.closed, deadline(2000)]);
    throw new Error(
      `server not live within ${READY_TIMEOUT_MS} ms (last: ${lastErr})\n${this.tail()}`
    );
  }

  /** SIGTERM, wait for the exit; returns {code, signal}. */
  async stop(timeoutMs = 15000) {
    if (!this.proc) return null;
    if (this.exit === null) {
      try {
        this.proc.kill('SIGTERM');
      } catch {
        /* already gone */
      }
      const timedOut = await Promise.race([this.exited.then(() => false), deadline(timeoutMs).then(() => true)]);
      if (timedOut) {
        this.kill();
        await this.exited;
        await Promise.race([this.closed, deadline(1000)]);
        this._rmData();
        throw new Error(`server did not exit within ${timeoutMs} ms of SIGTERM; killed\n${this.tail()}`);
      }
    }
    await Promise.race([this.closed, deadline(2000)]);
    this._rmData();
    return this.exit;
  }

  /** SIGKILL, no waiting. */
  kill() {
    if (this.proc && this.exit === null) {
      try {
        this.proc.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }

  /** Sends a signal without waiting. */
  signal(sig) {
    this.proc.kill(sig);
  }

  _rmData() {
    if (this.dataDir && process.env.DLB_KEEP_DATA !== '1') {
      fs.rmSync(this.dataDir, { recursive: true, force: true });
      tmpDirs.delete(this.dataDir);
    }
  }

  /** Throws when the server printed a sanitizer report (ASan, LSan, UBSan). */
  assertSanitizerClean() {
    const rep = sanitizerReport(this.stderr());
    if (rep) throw new Error(`sanitizer report in server stderr:\n${rep}`);
  }

  /** Throws when the server died on its own (crash) before the test stopped it. */
  assertRunning() {
    if (this.exit)
      throw new Error(
        `server exited unexpectedly (code ${this.exit.code}, signal ${this.exit.signal})\n${this.tail()}`
      );
  }

  /** Waits until some captured line satisfies pred(line); returns it, or null on timeout. */
  async waitForLine(pred, timeoutMs = 3000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      if (Date.now() >= deadline) return null;
      await sleep(25);
    }
  }
}

export async function startServer(env = {}, opts = {}) {
  const s = new Server(env, opts);
  await s.start();
  return s;
}

/**
 * Inside describe(): starts one server before the suite's tests and stops it after them.
 * After each test the server must still be running and its stderr free of sanitizer
 * reports. End the suite with stopsCleanly(ctx): a test that SIGTERMs the server and wants
 * exit 0 and no sanitizer report (LeakSanitizer reports come only at exit). The after hook
 * is the safety net when that test did not run.
 */
export function useServer(env = {}, opts = {}) {
  const ctx = { server: null, stopped: false };
  before(async () => {
    ctx.server = await startServer(env, opts);
  });
  afterEach(() => {
    if (!ctx.server) return;
    ctx.server.assertSanitizerClean();
    if (!opts.mayExit && !ctx.stopped) ctx.server.assertRunning();
  });
  after(async () => {
    const s = ctx.server;
    if (!s) return;
    const crashed = s.exit;
    const res = await s.stop();
    s.assertSanitizerClean();
    if (!crashed && !ctx.stopped && !opts.mayExit && res && (res.code !== 0 || res.signal))
      throw new Error(`server exit after SIGTERM: code ${res.code}, signal ${res.signal} (expected 0)\n${s.tail()}`);
  });
  return ctx;
}

/** The last test of a useServer() suite: SIGTERM gives exit 0 and no sanitizer report. */
export function stopsCleanly(ctx) {
  it('stops cleanly on SIGTERM (exit 0, no sanitizer report)', async () => {
    const s = ctx.server;
    assert.ok(s, 'the server started');
    s.assertRunning();
    ctx.stopped = true;
    const res = await s.stop();
    s.assertSanitizerClean();
    assert.deepEqual(res, { code: 0, signal: null }, `exit after SIGTERM\n${s.tail()}`);
  });
}

/** Runs the binary to completion (for --version, --check-config, bad config). */
export function runBinary(args = [], env = {}, { timeoutMs = 10000 } = {}) {
  const dir = makeTmpDir();
  const started = Date.now();
  const r = spawnSync(BIN, args, {
    cwd: dir,
    env: serverEnv({ DATA_DIR: dir, PORT: undefined, ...env }),
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
  });
  fs.rmSync(dir, { recursive: true, force: true });
  tmpDirs.delete(dir);
  const out = {
    code: r.status,
    signal: r.signal,
    stdout: r.stdout || '',
    stderr: r.stderr || '',
    ms: Date.now() - started,
    error: r.error,
  };
  const rep = sanitizerReport(out.stderr);
  if (rep) throw new Error(`sanitizer report running ${BIN} ${args.join(' ')}:\n${rep}`);
  return out;
}

/**
 * A raw HTTP request on its own connection (no keep-alive, no automatic Accept-Encoding,
 * no decompression). Resolves {status, headers, rawHeaders, body (Buffer), text, json}.
 */
export function request(url, { method = 'GET', headers = {}, body, timeout = 30000, agent = false, insecure = false } = {}) {
  return new Promise((resolve, reject) => {
    // insecure: the readiness probe of an HTTPS server whose test certificate Node does not know
    const mod = url.startsWith('https:') ? https : http;
    const extra = insecure && mod === https ? { rejectUnauthorized: false } : {};
    const req = mod.request(url, { method, headers, agent, timeout, ...extra }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        const text = buf.toString('utf8');
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {
          json = null;
        }
        resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, body: buf, text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`request timed out after ${timeout} ms: ${method} ${url}`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/**
 * fetch() and parse the body as JSON. Resolves {status, headers (Headers), text, json, ms}.
 * opts.json: an object to send as the JSON body (sets Content-Type).
 */
export async function fetchJson(url, opts = {}) {
  const init = { ...opts };
  delete init.json;
  init.headers = { ...(opts.headers || {}) };
  if (opts.json !== undefined) {
    init.body = JSON.stringify(opts.json);
    init.headers['content-type'] = 'application/json';
  }
  if (!init.signal) init.signal = AbortSignal.timeout(opts.timeoutMs || 30000);
  delete init.timeoutMs;
  const t0 = performance.now();
  const res = await fetch(url, init);
  const text = await res.text();
  const ms = performance.now() - t0;
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, text, json, ms };
}

/** Asserts the standard JSON error shape; returns the body. */
export function expectError(assert, res, status, code) {
  const what = `${status} ${code}; got ${res.status}: ${res.text?.slice(0, 500)}`;
  assert.equal(res.status, status, `status: expected ${what}`);
  const ct = typeof res.headers.get === 'function' ? res.headers.get('content-type') : res.headers['content-type'];
  assert.match(ct || '', /^application\/json/, `Content-Type of the error: ${ct}`);
  assert.ok(res.json && typeof res.json === 'object', `error body is not JSON: ${res.text}`);
  assert.equal(res.json.error, code, `error code: expected ${what}`);
  assert.equal(typeof res.json.detail, 'string', 'detail is a string');
  assert.ok(res.json.detail.length > 0, 'detail is not empty');
  const rid = typeof res.headers.get === 'function' ? res.headers.get('x-request-id') : res.headers['x-request-id'];
  assert.ok(rid, 'X-Request-ID header on the error');
  assert.equal(res.json.request_id, rid, 'request_id in the body equals the X-Request-ID header');
  return res.json;
}
