// The lake on S3 (issue 4 item 4): with STORAGE_BACKEND=s3 a new lake's data path is
// s3://ducklake-data/ducklake-data/; every append uploads its Parquet file before the catalog
// commit (s3rver, behind the signature-verifying front of lib/s3.js, is asked directly what it
// holds); queries read through the local cache DATA_DIR/cache/lake, which keeps to
// STORAGE_CACHE_MAX_BYTES by LRU eviction (counted in /metrics); a store outage during an
// append is a fast, clear 503 and leaves nothing in the catalog that names a missing object;
// the store's return needs no restart; a restarted server adopts the s3:// lake.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BACKEND, expectError, makeTmpDir, sleep, startServer, stopsCleanly, useServer } from './lib/server.js';
import { catalogQuery, lakeApi } from './lib/lake.js';
import { s3Env, startS3 } from './lib/s3.js';

const BUCKET = 'ducklake-data';
const PREFIX = 'ducklake-data/';

async function metrics(server) {
  const r = await fetch(server.url('/metrics'));
  assert.equal(r.status, 200);
  const text = await r.text();
  const get = (name) => {
    const m = new RegExp(`^${name} ([0-9.e+]+)$`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };
  return {
    hits: get('dlb_lake_cache_hits_total'),
    misses: get('dlb_lake_cache_misses_total'),
    evictions: get('dlb_lake_cache_evictions_total'),
    bytes: get('dlb_lake_cache_bytes'),
    files: get('dlb_lake_cache_files'),
    max: get('dlb_lake_cache_max_bytes'),
    fetchErrors: get('dlb_lake_cache_fetch_errors_total'),
  };
}

function cacheDir(server) {
  return path.join(server.env.DATA_DIR, 'cache', 'lake');
}

/** Files and bytes of the cache directory (what is on disk, not what the server says). */
function cacheOnDisk(server) {
  const d = cacheDir(server);
  if (!fs.existsSync(d)) return { files: 0, bytes: 0 };
  let files = 0;
  let bytes = 0;
  for (const n of fs.readdirSync(d)) {
    if (n.startsWith('.')) continue;
    files++;
    bytes += fs.statSync(path.join(d, n)).size;
  }
  return { files, bytes };
}

/** The data files the catalog names (live or not), as object keys. */
function catalogKeys(server) {
  const rows = catalogQuery(
    server,
    'SELECT s.path AS sp, t.path AS tp, d.path AS fp, d.file_size_bytes AS size FROM ducklake_data_file d ' +
      'JOIN ducklake_table t ON t.table_id = d.table_id JOIN ducklake_schema s ON s.schema_id = t.schema_id ' +
      'GROUP BY d.data_file_id, s.path, t.path, d.path, d.file_size_bytes'
  );
  return rows.map((r) => ({ key: `${PREFIX}${r.sp}${r.tp}${r.fp}`, size: Number(r.size) }));
}

const rowsOf = (n, base) => Array.from({ length: n }, (_, i) => ({ id: base + i, v: `row ${base + i} ${'x'.repeat(40)}` }));

describe(`lake on S3 (${BACKEND})`, () => {
  let s3 = null;
  // our own DATA_DIR (kept by stop()) so that a second server can adopt the lake
  const env = { LOG_ACCESS: 'false', DATA_DIR: makeTmpDir() };
  before(async () => {
    s3 = await startS3();
    Object.assign(env, s3Env(s3));
  });
  after(async () => s3 && s3.stop());
  const ctx = useServer(env);

  it('a new lake lives in s3://ducklake-data/ducklake-data/ (bucket created)', async () => {
    const rows = catalogQuery(ctx.server, "SELECT value FROM ducklake_metadata WHERE key = 'data_path'");
    assert.deepEqual(rows.map((r) => r.value), [`s3://${BUCKET}/${PREFIX}`]);
    assert.deepEqual(await s3.listObjects(BUCKET), [], 'the bucket exists and is empty');
    assert.ok(!fs.existsSync(path.join(ctx.server.env.DATA_DIR, 'lake')), 'no local lake directory');
  });

  it('appends land as objects in the bucket, named and sized as the catalog says', async () => {
    const api = lakeApi(ctx.server);
    assert.equal((await api.create('t', { id: 'INTEGER', v: 'VARCHAR' })).status, 201);
    for (let i = 0; i < 3; i++) {
      const r = await api.appendRows('t', rowsOf(100, i * 100));
      assert.equal(r.status, 200, r.text);
    }
    const objects = await s3.listObjects(BUCKET, PREFIX);
    assert.equal(objects.length, 3, JSON.stringify(objects));
    for (const o of objects) assert.match(o.key, /^ducklake-data\/main\/t\/ducklake-[0-9a-f-]+\.parquet$/);
    const want = catalogKeys(ctx.server).sort((a, b) => a.key.localeCompare(b.key));
    assert.deepEqual(objects.sort((a, b) => a.key.localeCompare(b.key)), want);
    // the local Parquet files were removed after their upload
    const tmp = path.join(ctx.server.env.DATA_DIR, 'tmp');
    assert.deepEqual(fs.readdirSync(tmp).filter((n) => n.endsWith('.parquet')), []);
  });

  it('queries read through the cache: misses first, hits after, files on disk', async () => {
    const api = lakeApi(ctx.server);
    const m0 = await metrics(ctx.server);
    assert.equal(m0.misses, 0);
    assert.deepEqual(await api.rows('t', 'SELECT count(*) AS n, sum(id) AS s FROM t'), [{ n: 300, s: 44850 }]);
    const m1 = await metrics(ctx.server);
    assert.equal(m1.misses, 3);
    assert.equal(m1.files, 3);
    assert.deepEqual(cacheOnDisk(ctx.server), { files: 3, bytes: m1.bytes });
    assert.deepEqual(await api.rows('t', 'SELECT v FROM t WHERE id = 250'), [{ v: `row 250 ${'x'.repeat(40)}` }]);
    const m2 = await metrics(ctx.server);
    assert.equal(m2.misses, 3, 'no download for a cached file');
    assert.ok(m2.hits >= m1.hits + 3, `hits ${m1.hits} -> ${m2.hits}`);
    assert.equal(m2.max, 1073741824);
  });

  it('a store outage during an append: fast clear 503, nothing in the catalog names a missing file; back without restart', async () => {
    const api = lakeApi(ctx.server);
    const before0 = catalogKeys(ctx.server).length;
    const snaps0 = catalogQuery(ctx.server, 'SELECT count(*) AS n FROM ducklake_snapshot')[0].n;
    await s3.pause();
    try {
      for (let i = 0; i < 4; i++) {
        const t0 = Date.now();
        const r = await api.appendRows('t', rowsOf(10, 1000 + i * 10));
        const ms = Date.now() - t0;
        expectError(assert, r, 503, 'store_unavailable');
        assert.match(r.json.detail, /object store/);
        assert.match(r.json.detail, /nothing was committed/);
        assert.ok(ms < 1000, `answered in ${ms} ms`);
      }
      // cached files still answer queries while the store is away
      assert.deepEqual(await api.rows('t', 'SELECT count(*) AS n FROM t'), [{ n: 300 }]);
    } finally {
      await s3.resume();
    }
    assert.equal(catalogKeys(ctx.server).length, before0, 'no data file row was added');
    assert.equal(catalogQuery(ctx.server, 'SELECT count(*) AS n FROM ducklake_snapshot')[0].n, snaps0, 'no snapshot');
    assert.deepEqual(fs.readdirSync(path.join(ctx.server.env.DATA_DIR, 'tmp')).filter((n) => n.endsWith('.parquet')), []);
    // the store is back: appends work again (once the breaker lets a probe through)
    const deadline = Date.now() + 10000;
    let r;
    for (;;) {
      r = await api.appendRows('t', rowsOf(50, 300));
      if (r.status === 200 || Date.now() > deadline) break;
      await sleep(200);
    }
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(await api.rows('t', 'SELECT count(*) AS n, max(id) AS m FROM t'), [{ n: 350, m: 349 }]);
    // every file the catalog names exists in the store, with its size; no orphan object
    const objects = (await s3.listObjects(BUCKET, PREFIX)).sort((a, b) => a.key.localeCompare(b.key));
    assert.deepEqual(objects, catalogKeys(ctx.server).sort((a, b) => a.key.localeCompare(b.key)));
  });

  it('a restarted server adopts the s3:// lake; without S3 settings it refuses to start, saying why', async () => {
    const api = lakeApi(ctx.server);
    const want = await api.rows('t', 'SELECT count(*) AS n, sum(id) AS s FROM t');
    const keep = { DB_POSTGRES_SCHEMA: ctx.server.env.DB_POSTGRES_SCHEMA };
    ctx.stopped = true;
    const res = await ctx.server.stop();
    assert.equal(res.code, 0);
    // an empty cache: everything comes from the store again
    fs.rmSync(cacheDir(ctx.server), { recursive: true, force: true });
    const again = await startServer({ ...env, ...keep });
    try {
      const a2 = lakeApi(again);
      assert.deepEqual(await a2.rows('t', 'SELECT count(*) AS n, sum(id) AS s FROM t'), want);
      assert.equal((await metrics(again)).misses, 4);
      assert.equal((await a2.appendRows('t', rowsOf(1, 9999))).status, 200);
    } finally {
      await again.stop();
    }
    await assert.rejects(startServer({ LOG_ACCESS: 'false', DATA_DIR: env.DATA_DIR, ...keep }), /is on S3 but the object store is local.*STORAGE_BACKEND=s3/s);
  });
});

describe(`lake on S3: the cache keeps to STORAGE_CACHE_MAX_BYTES (${BACKEND})`, () => {
  let s3 = null;
  const BUDGET = 6000;
  const env = { LOG_ACCESS: 'false', STORAGE_CACHE_MAX_BYTES: String(BUDGET) };
  before(async () => {
    s3 = await startS3();
    Object.assign(env, s3Env(s3));
  });
  after(async () => s3 && s3.stop());
  const ctx = useServer(env);

  it('evicts least recently used files (counted), results stay right, the disk keeps to the budget', async () => {
    const api = lakeApi(ctx.server);
    assert.equal((await api.create('big', { id: 'INTEGER', v: 'VARCHAR' })).status, 201);
    assert.equal((await api.create('small', { id: 'INTEGER' })).status, 201);
    for (let i = 0; i < 8; i++) assert.equal((await api.appendRows('big', rowsOf(200, i * 200))).status, 200);
    assert.equal((await api.appendRows('small', [{ id: 1 }])).status, 200);
    const sizes = catalogKeys(ctx.server).map((k) => k.size);
    const total = sizes.reduce((a, b) => a + b, 0);
    assert.ok(total > 2 * BUDGET, `the lake (${total} bytes) is much bigger than the cache (${BUDGET})`);
    for (let round = 0; round < 3; round++) {
      assert.deepEqual(await api.rows('big', 'SELECT count(*) AS n, sum(id) AS s FROM big'), [{ n: 1600, s: 1279200 }]);
      assert.deepEqual(await api.rows('small', 'SELECT id FROM small'), [{ id: 1 }]);
      const disk = cacheOnDisk(ctx.server);
      assert.ok(disk.bytes <= BUDGET, `round ${round}: ${disk.bytes} bytes cached > ${BUDGET}`);
    }
    const m = await metrics(ctx.server);
    assert.ok(m.evictions > 0, `evictions ${m.evictions}`);
    assert.ok(m.misses > sizes.length, `re-downloads after eviction (misses ${m.misses})`);
    assert.ok(m.bytes <= BUDGET);
    assert.equal(m.max, BUDGET);
    assert.equal(m.fetchErrors, 0);
  });

  stopsCleanly(ctx);
});
