// Helpers for the DuckLake table tests (tables*.test.js): thin API wrappers, a reader of the
// lake catalog (SQLite through python3's sqlite3, PostgreSQL through psql, both in a child
// process), the reference DuckDB with the official ducklake extension, and multipart bodies.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { BACKEND, REPO_ROOT, fetchJson, request, useServer } from './server.js';
import { s3Env, startS3 } from './s3.js';

/* ---- where the lake lives ------------------------------------------------------------------ */

/** DLB_E2E_LAKE=s3 runs the table suites with the lake on S3 (tables_s3.test.js sets it). */
export const LAKE = process.env.DLB_E2E_LAKE === 's3' ? 's3' : 'local';

/**
 * useServer() for the table suites: with DLB_E2E_LAKE=s3, an S3 server (s3rver behind the
 * verifying front, lib/s3.js) is started first and the server gets STORAGE_BACKEND=s3, so a
 * new lake's data path is s3://ducklake-data/ducklake-data/. ctx.s3 is that store.
 */
export function useLakeServer(env = {}, opts = {}) {
  const e = { ...env };
  let s3 = null;
  if (LAKE === 's3') {
    before(async () => {
      s3 = await startS3();
      Object.assign(e, s3Env(s3), env);
      ctx.s3 = s3;
    });
    after(async () => s3 && s3.stop());
  }
  const ctx = useServer(e, opts);
  return ctx;
}

/* ---- API wrappers ------------------------------------------------------------------------ */

export function lakeApi(server) {
  const u = (p) => server.url(p);
  return {
    create: (name, schema, extra = {}) => fetchJson(u('/tables'), { method: 'POST', json: { name, schema, ...extra } }),
    list: (qs = '') => fetchJson(u(`/tables${qs}`)),
    get: (name, qs = '') => fetchJson(u(`/tables/${encodeURIComponent(name)}${qs}`)),
    drop: (name) => fetchJson(u(`/tables/${encodeURIComponent(name)}`), { method: 'DELETE' }),
    appendRows: (name, rows) => fetchJson(u(`/tables/${encodeURIComponent(name)}`), { method: 'PUT', json: { rows } }),
    /** Like appendRows, but a string value raw('123') is sent as the bare JSON number 123. */
    appendRowsRaw: (name, rows) =>
      fetchJson(u(`/tables/${encodeURIComponent(name)}`), {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ rows }).replace(/"#raw:([-+.eE0-9]+)"/g, '$1'),
      }),
    appendBody: (name, body, contentType) =>
      fetchJson(u(`/tables/${encodeURIComponent(name)}`), {
        method: 'PUT',
        body,
        headers: contentType ? { 'content-type': contentType } : {},
      }),
    /** POST /tables/{name}/query; JSON answers parsed, others as raw bytes (request()). */
    query: (name, query, { accept, qs = '', stream } = {}) => {
      const body = JSON.stringify(stream === undefined ? { query } : { query, stream });
      return request(u(`/tables/${encodeURIComponent(name)}/query${qs}`), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(accept ? { accept } : {}) },
        body,
        timeout: 60000,
      });
    },
    /** The JSON "result" rows of a query; throws on any other status. */
    rows: async (name, query, qs = '') => {
      const r = await request(u(`/tables/${encodeURIComponent(name)}/query${qs}`), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query }),
        timeout: 60000,
      });
      if (r.status !== 200) throw new Error(`query ${query}${qs}: ${r.status} ${r.text.slice(0, 500)}`);
      return r.json.result;
    },
    snapshots: (name) => fetchJson(u(name ? `/tables/${encodeURIComponent(name)}/snapshots` : '/snapshots')),
  };
}

/** A number too big or too precise for a JS double, sent verbatim by appendRowsRaw. */
export const raw = (text) => `#raw:${text}`;

/* ---- multipart ------------------------------------------------------------------------- */

/** A multipart/form-data body like Python requests' files={'file': (filename, data, ctype)}. */
export function multipartBody(fields) {
  const boundary = `----dlb${Math.random().toString(16).slice(2)}`;
  const parts = [];
  for (const f of fields) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${f.name}"`;
    if (f.filename) head += `; filename="${f.filename}"`;
    head += '\r\n';
    if (f.contentType) head += `Content-Type: ${f.contentType}\r\n`;
    parts.push(Buffer.from(head + '\r\n'), Buffer.isBuffer(f.data) ? f.data : Buffer.from(f.data), Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

/* ---- oracles beside the repository ------------------------------------------------------- */

const SHARED = path.resolve(REPO_ROOT, '..', 'shared');

/** The reference DuckDB with the official extension, or null. */
export function duckdbRef() {
  const p = process.env.DLB_DUCKDB_REF || path.join(SHARED, 'tools/ducklake-reference/duckdb-ref');
  return fs.existsSync(p) ? p : null;
}

/** The golden lake the extension wrote, or null. */
export function goldenDir() {
  const p = process.env.DLB_GOLDEN_DIR || path.join(SHARED, 'research/ducklake-golden');
  return fs.existsSync(path.join(p, 'catalog.sqlite')) ? p : null;
}

export function haveSqliteReader() {
  return spawnSync('python3', ['-c', 'import sqlite3'], { encoding: 'utf8' }).status === 0;
}

/** Runs SQL in the reference DuckDB (in memory; no ICU in it, so TIMESTAMPTZ renders in UTC); returns the rows of the last statement. */
export function duckRef(sql, { cwd } = {}) {
  const bin = duckdbRef();
  if (!bin) throw new Error('no reference DuckDB');
  const r = spawnSync(bin, ['-json', '-c', sql], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 512 << 20,
    timeout: 120000,
  });
  if (r.status !== 0) throw new Error(`duckdb-ref failed (${r.status}): ${r.stderr}\nSQL: ${sql.slice(0, 2000)}`);
  const out = r.stdout.trim();
  if (!out) return [];
  // -json prints one array per statement that returns rows; keep the last one.
  const i = out.lastIndexOf('\n[');
  return JSON.parse(i >= 0 ? out.slice(i + 1) : out);
}

const PY_SQLITE = `
import json, sys, sqlite3
db, sql = sys.argv[1], sys.argv[2]
write = len(sys.argv) > 3 and sys.argv[3] == 'rw'
con = sqlite3.connect(db if write else 'file:%s?mode=ro' % db, uri=not write, timeout=30)
cur = con.execute(sql)
cols = [d[0] for d in cur.description] if cur.description else []
out = []
for row in cur.fetchall():
    out.append({c: (v.hex() if isinstance(v, bytes) else v) for c, v in zip(cols, row)})
con.commit()
print(json.dumps(out))
`;

/** Rows of a query on a SQLite file (python3 sqlite3, read-only unless rw). */
export function sqliteQuery(dbPath, sql, { rw = false } = {}) {
  const r = spawnSync('python3', ['-c', PY_SQLITE, dbPath, sql, rw ? 'rw' : 'ro'], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`sqlite query failed: ${r.stderr}\nSQL: ${sql}`);
  return JSON.parse(r.stdout);
}

/**
 * Rows of a query on the server's lake catalog: SQLite (DATA_DIR/catalog.sqlite) or the
 * server's PostgreSQL schema. Values come back as text on PostgreSQL; numbers are compared
 * through Number()/String() by the callers.
 */
export function catalogQuery(server, sql) {
  if (BACKEND !== 'postgres') return sqliteQuery(path.join(server.env.DATA_DIR, 'catalog.sqlite'), sql);
  const env = {
    ...process.env,
    PGHOST: process.env.DB_POSTGRES_HOST,
    PGPORT: process.env.DB_POSTGRES_PORT || '5432',
    PGDATABASE: process.env.DB_POSTGRES_DB,
    PGUSER: process.env.DB_POSTGRES_USER,
    PGPASSWORD: process.env.DB_POSTGRES_PASSWORD,
  };
  // the server's schema first, as meta sets it (json_agg output spans lines: parse all of it)
  env.PGOPTIONS = `-c search_path=${server.env.DB_POSTGRES_SCHEMA}`;
  const q = `SELECT coalesce(json_agg(q), '[]'::json) FROM (${sql}) q`;
  const r = spawnSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-c', q], { env, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}\nSQL: ${sql}`);
  return JSON.parse(r.stdout);
}

export function haveCatalogReader() {
  if (BACKEND === 'postgres') return spawnSync('psql', ['--version']).status === 0;
  return haveSqliteReader();
}

/** SQL string literal. */
export function lit(s) {
  return `'${String(s).replace(/'/g, "''")}'`;
}

/** Waits until every promise settles; returns their results ({status, value|reason}). */
export async function settleAll(ps) {
  return Promise.allSettled(ps);
}

/* ---- lossless JSON ------------------------------------------------------------------------ */

/** A JSON number kept as its source text (BIGINT/UBIGINT/DECIMAL(38,10) exceed doubles). */
export class Num {
  constructor(text) {
    this.text = text;
  }
}
/** Shorthand for expectations: num('9223372036854775807'). */
export const num = (t) => new Num(String(t));

/** JSON.parse, but every number becomes a Num with its exact source text. */
const NUM_RE = /-?\d+(\.\d+)?([eE][+-]?\d+)?/y;
const STR_RE = /"[^"\\]*(?:\\.[^"\\]*)*"/sy;
export function parseLossless(text) {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const o = {};
      ws();
      if (text[i] === '}') return i++, o;
      for (;;) {
        ws();
        const k = str();
        ws();
        if (text[i++] !== ':') throw new Error(`bad JSON at ${i}`);
        o[k] = value();
        ws();
        const d = text[i++];
        if (d === '}') return o;
        if (d !== ',') throw new Error(`bad JSON at ${i}`);
      }
    }
    if (c === '[') {
      i++;
      const a = [];
      ws();
      if (text[i] === ']') return i++, a;
      for (;;) {
        a.push(value());
        ws();
        const d = text[i++];
        if (d === ']') return a;
        if (d !== ',') throw new Error(`bad JSON at ${i}`);
      }
    }
    if (c === '"') return str();
    for (const [w, v] of [['true', true], ['false', false], ['null', null]])
      if (text.startsWith(w, i)) return (i += w.length), v;
    NUM_RE.lastIndex = i;
    const m = NUM_RE.exec(text);
    if (!m) throw new Error(`bad JSON at ${i}: ${text.slice(i, i + 40)}`);
    i += m[0].length;
    return new Num(m[0]);
  };
  const str = () => {
    STR_RE.lastIndex = i;
    const m = STR_RE.exec(text);
    if (!m) throw new Error(`bad JSON string at ${i}`);
    i += m[0].length;
    return JSON.parse(m[0]);
  };
  const v = value();
  ws();
  if (i !== text.length) throw new Error(`trailing JSON at ${i}`);
  return v;
}
