// DuckLake commits under load: concurrent appends (one server, and two servers on one
// PostgreSQL catalog), and a kill -9 in the middle of appends.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { BACKEND, sleep, startServer } from './lib/server.js';
import { catalogQuery, haveCatalogReader, lakeApi } from './lib/lake.js';

const CLIENTS = 8;
const BATCHES = 50;
const ROWS = 5;

function batch(client, b) {
  return Array.from({ length: ROWS }, (_, i) => ({ c: client, b, i, tag: `c${client}-b${b}-r${i}` }));
}

/** Runs CLIENTS clients of BATCHES appends each; client k talks to apis[k % apis.length]. */
async function hammer(apis, table) {
  const acks = [];
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      const api = apis[c % apis.length];
      for (let b = 0; b < BATCHES; b++) {
        const r = await api.appendRows(table, batch(c, b));
        assert.equal(r.status, 200, `client ${c} batch ${b}: ${r.status} ${r.text}`);
        assert.equal(r.json.rows, ROWS);
        acks.push(r.json.snapshot_id);
      }
    })
  );
  return acks;
}

async function checkAll(api, table, acks, firstSnap) {
  // every row of every batch is there, once
  const rows = await api.rows(table, `SELECT c, b, count(*) AS n, count(DISTINCT i) AS d FROM ${table} GROUP BY ALL ORDER BY c, b`);
  assert.equal(rows.length, CLIENTS * BATCHES, 'one group per acknowledged batch');
  for (const r of rows) assert.deepEqual([r.n, r.d], [ROWS, ROWS], `batch c${r.c} b${r.b}`);
  // every commit has its own snapshot; the ids are dense
  assert.equal(new Set(acks).size, acks.length, 'no two appends share a snapshot');
  const snaps = (await api.snapshots()).json.snapshots.map((s) => s.snapshot_id);
  assert.deepEqual(snaps, [...Array(snaps.length).keys()], 'snapshot ids are dense from 0');
  const sorted = [...acks].sort((a, b) => a - b);
  assert.deepEqual(sorted, Array.from({ length: acks.length }, (_, i) => firstSnap + 1 + i), 'acknowledged snapshots are consecutive');
  const t = await api.get(table);
  assert.equal(t.json.row_count, CLIENTS * BATCHES * ROWS);
  assert.equal(t.json.file_count, CLIENTS * BATCHES);
}

const SCHEMA = { c: 'INTEGER', b: 'INTEGER', i: 'INTEGER', tag: 'VARCHAR' };

describe(`tables: concurrent appends (${BACKEND})`, () => {
  it(`${CLIENTS} clients x ${BATCHES} batches on one server: every row, dense snapshots`, async () => {
    const s = await startServer();
    try {
      const api = lakeApi(s);
      const c = await api.create('load', SCHEMA);
      assert.equal(c.status, 201, c.text);
      const acks = await hammer([api], 'load');
      await checkAll(api, 'load', acks, c.json.snapshot_id);
      s.assertRunning();
    } finally {
      await s.stop();
    }
  });

  it('two server processes on one PostgreSQL catalog', { skip: BACKEND !== 'postgres' && 'needs the PostgreSQL catalog (scripts/run-e2e.sh postgres)' }, async () => {
    const s1 = await startServer();
    let s2;
    try {
      // same catalog schema; the lake's data path is stored in the catalog, so s2 adopts s1's
      s2 = await startServer({ DB_POSTGRES_SCHEMA: s1.env.DB_POSTGRES_SCHEMA });
      const a1 = lakeApi(s1);
      const a2 = lakeApi(s2);
      const c = await a1.create('load2', SCHEMA);
      assert.equal(c.status, 201, c.text);
      assert.equal((await a2.get('load2')).status, 200, 'the second server sees the table');
      const acks = await hammer([a1, a2], 'load2');
      await checkAll(a1, 'load2', acks, c.json.snapshot_id);
      await checkAll(a2, 'load2', acks, c.json.snapshot_id);
      const dp = catalogQuery(s1, "SELECT value FROM ducklake_metadata WHERE key = 'data_path'")[0].value;
      assert.ok(dp.startsWith(s1.env.DATA_DIR), `data path ${dp} is the first server's`);
    } finally {
      if (s2) await s2.stop();
      await s1.stop();
    }
  });
});

/** Absolute paths of the data files the catalog names, with the snapshot that added each. */
function catalogFiles(server) {
  const dataPath = catalogQuery(server, "SELECT value FROM ducklake_metadata WHERE key = 'data_path'")[0].value;
  const rows = catalogQuery(
    server,
    `SELECT f.data_file_id, f.path, f.path_is_relative AS frel, f.begin_snapshot, f.end_snapshot,
            t.path AS tpath, t.path_is_relative AS trel, s.path AS spath, s.path_is_relative AS srel
       FROM ducklake_data_file f
       JOIN ducklake_table t ON t.table_id = f.table_id AND t.begin_snapshot <= f.begin_snapshot
            AND (t.end_snapshot IS NULL OR t.end_snapshot > f.begin_snapshot)
       JOIN ducklake_schema s ON s.schema_id = t.schema_id AND s.begin_snapshot <= f.begin_snapshot
            AND (s.end_snapshot IS NULL OR s.end_snapshot > f.begin_snapshot)`
  );
  const truthy = (v) => v === true || v === 1 || v === 't' || v === '1';
  return rows.map((r) => {
    const schemaDir = truthy(r.srel) ? dataPath + r.spath : r.spath;
    const tableDir = truthy(r.trel) ? schemaDir + r.tpath : r.tpath;
    return { id: Number(r.data_file_id), file: truthy(r.frel) ? tableDir + r.path : r.path, begin: Number(r.begin_snapshot) };
  });
}

describe(`tables: kill -9 in the middle of appends (${BACKEND})`, () => {
  it('after a restart every visible file exists, belongs to one committed snapshot, and no acknowledged row is missing', async (t) => {
    if (!haveCatalogReader()) return t.skip('needs python3 (sqlite3) or psql to read the catalog');
    const s1 = await startServer();
    let s2;
    try {
      const api1 = lakeApi(s1);
      assert.equal((await api1.create('crash', SCHEMA)).status, 201);
      const acked = [];
      let stop = false;
      const clients = Array.from({ length: 4 }, async (_, c) => {
        for (let b = 0; !stop; b++) {
          try {
            const r = await api1.appendRows('crash', batch(c, b));
            if (r.status === 200) acked.push({ c, b, snap: r.json.snapshot_id });
          } catch {
            return; // the connection died with the server
          }
        }
      });
      // let some commits through, then kill in the middle of the traffic
      while (acked.length < 20) await sleep(20);
      s1.kill();
      await s1.exited;
      stop = true;
      await Promise.all(clients);
      assert.equal(s1.exit.signal, 'SIGKILL');

      s2 = await startServer({ DATA_DIR: s1.env.DATA_DIR, DB_POSTGRES_SCHEMA: s1.env.DB_POSTGRES_SCHEMA });
      const api2 = lakeApi(s2);
      // the lake opens and answers
      const g = await api2.get('crash');
      assert.equal(g.status, 200, g.text);
      // no acknowledged row is missing
      const have = new Set((await api2.rows('crash', 'SELECT DISTINCT c, b FROM crash')).map((r) => `${r.c}/${r.b}`));
      for (const a of acked) assert.ok(have.has(`${a.c}/${a.b}`), `acknowledged batch c${a.c} b${a.b} (snapshot ${a.snap}) is there`);
      const full = await api2.rows('crash', 'SELECT c, b, count(*) AS n FROM crash GROUP BY ALL');
      for (const r of full) assert.equal(r.n, ROWS, `batch c${r.c} b${r.b} is complete`);
      // every visible file exists and is referenced by exactly one committed snapshot
      const snaps = new Set(catalogQuery(s2, 'SELECT snapshot_id FROM ducklake_snapshot').map((r) => Number(r.snapshot_id)));
      const files = catalogFiles(s2);
      assert.equal(files.length, g.json.file_count, 'catalog files = file_count');
      assert.equal(new Set(files.map((f) => f.file)).size, files.length, 'no file is referenced twice');
      assert.equal(new Set(files.map((f) => f.id)).size, files.length, 'no file id is used twice');
      for (const f of files) {
        assert.ok(fs.existsSync(f.file), `file ${f.file} exists`);
        assert.ok(snaps.has(f.begin), `file ${f.file} belongs to committed snapshot ${f.begin}`);
      }
      const ids = [...snaps].sort((a, b) => a - b);
      assert.deepEqual(ids, [...Array(ids.length).keys()], 'snapshot ids are dense');
      // files written but never committed are invisible: report how many the kill left
      const dir = path.dirname(files[0].file);
      const referenced = new Set(files.map((f) => path.basename(f.file)));
      const orphans = fs.readdirSync(dir).filter((n) => n.endsWith('.parquet') && !referenced.has(n));
      t.diagnostic(`acknowledged batches: ${acked.length}; committed files: ${files.length}; uncommitted files left by the kill: ${orphans.length}`);
      // and the lake takes new commits
      const r = await api2.appendRows('crash', batch(99, 0));
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.snapshot_id, ids[ids.length - 1] + 1);
    } finally {
      s1.kill();
      if (s2) await s2.stop();
    }
  });
});
