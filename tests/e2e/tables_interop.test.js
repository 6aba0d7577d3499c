// The lake against the format: the catalog rows each API operation writes (checked table by
// table against ../shared/ducklake-spec.md, both backends), stock DuckDB with the official
// ducklake extension reading a lake this server wrote (SQLite), and this server reading the
// golden lake the extension wrote.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { BACKEND, makeTmpDir, startServer, stopsCleanly, useServer } from './lib/server.js';
import { catalogQuery, duckRef, duckdbRef, goldenDir, haveCatalogReader, haveSqliteReader, lakeApi, lit, sqliteQuery } from './lib/lake.js';

const truthy = (v) => v === true || v === 1 || v === 't' || v === '1' || v === 'true';
const n = (v) => (v === null || v === undefined ? null : Number(v));
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/* ---- spec: catalog rows per operation --------------------------------------------------- */

describe(`tables: catalog rows follow the spec (${BACKEND})`, () => {
  const ctx = useServer();
  const skip = !haveCatalogReader() && 'needs python3 (sqlite3) or psql to read the catalog';
  const q = (sql) => catalogQuery(ctx.server, sql);
  const latest = () => q('SELECT * FROM ducklake_snapshot ORDER BY snapshot_id DESC LIMIT 1')[0];
  const changes = (s) => q(`SELECT changes_made FROM ducklake_snapshot_changes WHERE snapshot_id = ${s}`)[0]?.changes_made;
  let api;
  let tid;
  let file0;

  it('bootstrap: metadata keys and snapshot 0 (§2, §3.1, §3.2)', { skip }, async () => {
    api = lakeApi(ctx.server);
    const md = Object.fromEntries(q('SELECT key, value FROM ducklake_metadata WHERE scope IS NULL').map((r) => [r.key, r.value]));
    assert.equal(md.version, '1.0');
    assert.equal(md.encrypted, 'false');
    assert.equal(md.data_path, path.join(ctx.server.env.DATA_DIR, 'lake') + '/');
    const s0 = q('SELECT * FROM ducklake_snapshot WHERE snapshot_id = 0')[0];
    assert.deepEqual([n(s0.schema_version), n(s0.next_catalog_id), n(s0.next_file_id)], [0, 1, 0]);
    assert.equal(changes(0), 'created_schema:"main"');
    const main = q('SELECT * FROM ducklake_schema WHERE schema_id = 0')[0];
    assert.equal(main.schema_name, 'main');
    assert.equal(main.path, 'main/');
    assert.ok(truthy(main.path_is_relative));
    assert.match(String(main.schema_uuid), UUID_RE);
  });

  it('CREATE TABLE writes snapshot, changes, table, columns, schema_versions and the comment tag (§7.2)', { skip }, async () => {
    const before = latest();
    const r = await api.create('spec', { id: 'BIGINT NOT NULL', name: 'VARCHAR', tags: 'VARCHAR[]', price: 'DECIMAL(10,2)', f: 'DOUBLE' }, { comment: 'spec table' });
    assert.equal(r.status, 201, r.text);
    const S = r.json.snapshot_id;
    const s = latest();
    assert.equal(n(s.snapshot_id), S);
    assert.equal(S, n(before.snapshot_id) + 1);
    assert.equal(n(s.schema_version), n(before.schema_version) + 1, 'schema_version +1');
    assert.equal(n(s.next_catalog_id), n(before.next_catalog_id) + 1, 'the table id came from next_catalog_id');
    assert.equal(n(s.next_file_id), n(before.next_file_id));
    assert.equal(changes(S), 'created_table:"main"."spec"');
    const t = q("SELECT * FROM ducklake_table WHERE table_name = 'spec'");
    assert.equal(t.length, 1);
    tid = n(t[0].table_id);
    assert.equal(tid, n(before.next_catalog_id));
    assert.equal(n(t[0].begin_snapshot), S);
    assert.equal(t[0].end_snapshot, null);
    assert.equal(n(t[0].schema_id), 0);
    assert.equal(t[0].path, 'spec/');
    assert.ok(truthy(t[0].path_is_relative));
    assert.match(String(t[0].table_uuid), UUID_RE);
    const cols = q(`SELECT * FROM ducklake_column WHERE table_id = ${tid} ORDER BY column_id`);
    assert.deepEqual(
      cols.map((c) => [n(c.column_id), n(c.column_order), c.column_name, c.column_type, truthy(c.nulls_allowed), n(c.parent_column)]),
      [
        [1, 1, 'id', 'int64', false, null],
        [2, 2, 'name', 'varchar', true, null],
        [3, 3, 'tags', 'list', true, null],
        [4, 4, 'element', 'varchar', true, 3],
        [5, 5, 'price', 'decimal(10,2)', true, null],
        [6, 6, 'f', 'float64', true, null],
      ]
    );
    for (const c of cols) {
      assert.equal(n(c.begin_snapshot), S);
      assert.equal(c.end_snapshot, null);
      assert.equal(c.initial_default, null);
      assert.equal(c.default_value, 'NULL');
      assert.equal(c.default_value_dialect, 'duckdb');
    }
    const sv = q(`SELECT * FROM ducklake_schema_versions WHERE table_id = ${tid}`);
    assert.deepEqual(sv.map((r) => [n(r.begin_snapshot), n(r.schema_version)]), [[S, n(s.schema_version)]]);
    const tag = q(`SELECT * FROM ducklake_tag WHERE object_id = ${tid}`);
    assert.deepEqual(tag.map((r) => [n(r.begin_snapshot), r.end_snapshot, r.key, r.value]), [[S, null, 'comment', 'spec table']]);
    assert.equal(q(`SELECT * FROM ducklake_table_stats WHERE table_id = ${tid}`).length, 0, 'no table_stats before data');
    assert.equal(q(`SELECT * FROM ducklake_data_file WHERE table_id = ${tid}`).length, 0);
  });

  it('INSERT writes data_file, file_column_stats, table_stats, table_column_stats (§7.3)', { skip }, async () => {
    const before = latest();
    const r = await api.appendRows('spec', [
      { id: 3, name: 'b', tags: ['x', null], price: '1.50', f: 'NaN' },
      { id: 1, name: null, tags: [], price: '-2.25', f: 1.5 },
      { id: 2, name: 'a', tags: null, price: null, f: null },
    ]);
    assert.equal(r.status, 200, r.text);
    const S = r.json.snapshot_id;
    const s = latest();
    assert.equal(n(s.snapshot_id), S);
    assert.equal(n(s.schema_version), n(before.schema_version), 'no schema change');
    assert.equal(n(s.next_file_id), n(before.next_file_id) + 1);
    assert.equal(n(s.next_catalog_id), n(before.next_catalog_id));
    assert.equal(changes(S), `inserted_into_table:${tid}`);
    const f = q(`SELECT * FROM ducklake_data_file WHERE table_id = ${tid}`);
    assert.equal(f.length, 1);
    file0 = f[0];
    assert.equal(n(f[0].data_file_id), n(before.next_file_id));
    assert.equal(n(f[0].begin_snapshot), S);
    assert.equal(f[0].end_snapshot, null);
    assert.equal(f[0].file_order, null);
    assert.match(f[0].path, /^ducklake-[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\.parquet$/);
    assert.ok(truthy(f[0].path_is_relative));
    assert.equal(f[0].file_format, 'parquet');
    assert.equal(n(f[0].record_count), 3);
    assert.equal(n(f[0].row_id_start), 0);
    assert.equal(f[0].partition_id, null);
    assert.equal(f[0].encryption_key, null);
    assert.equal(f[0].mapping_id, null);
    assert.equal(f[0].partial_max, null);
    const file = path.join(ctx.server.env.DATA_DIR, 'lake', 'main', 'spec', f[0].path);
    const bytes = fs.readFileSync(file);
    assert.equal(n(f[0].file_size_bytes), bytes.length, 'file_size_bytes is exact');
    assert.equal(bytes.subarray(-4).toString(), 'PAR1');
    assert.equal(n(f[0].footer_size), bytes.readUInt32LE(bytes.length - 8), 'footer_size is exact');
    const st = q(`SELECT * FROM ducklake_file_column_stats WHERE data_file_id = ${f[0].data_file_id} ORDER BY column_id`);
    assert.deepEqual(
      st.map((c) => [n(c.column_id), n(c.table_id), n(c.value_count), n(c.null_count), c.min_value, c.max_value, c.contains_nan === null ? null : truthy(c.contains_nan)]),
      [
        [1, tid, 3, 0, '1', '3', null],
        [2, tid, 2, 1, 'a', 'b', null],
        [4, tid, 1, st[2] && n(st[2].null_count), 'x', 'x', null], // leaf only, never the list parent
        [5, tid, 2, 1, '-2.25', '1.50', null],
        [6, tid, 2, 1, st[4].min_value, st[4].max_value, true],
      ]
    );
    assert.ok(n(st[2].null_count) >= 1, 'the NULL element is counted');
    for (const c of st) assert.ok(n(c.column_size_bytes) > 0);
    const ts = q(`SELECT * FROM ducklake_table_stats WHERE table_id = ${tid}`);
    assert.deepEqual(ts.map((r) => [n(r.record_count), n(r.next_row_id), n(r.file_size_bytes)]), [[3, 3, bytes.length]]);
    const tcs = q(`SELECT * FROM ducklake_table_column_stats WHERE table_id = ${tid} ORDER BY column_id`);
    assert.deepEqual(
      tcs.map((c) => [n(c.column_id), truthy(c.contains_null), c.min_value, c.max_value]),
      [
        [1, false, '1', '3'],
        [2, true, 'a', 'b'],
        [4, true, 'x', 'x'],
        [5, true, '-2.25', '1.50'],
        [6, true, st[4].min_value, st[4].max_value],
      ]
    );
    assert.ok(truthy(tcs[4].contains_nan), 'contains_nan for the DOUBLE column');
    assert.equal(tcs[0].contains_nan, null, 'contains_nan NULL for non-floats');
  });

  it('a second INSERT continues row ids and merges the statistics (§7.3 step 6)', { skip }, async () => {
    const r = await api.appendRows('spec', [{ id: 10, name: 'z', price: '99.99' }, { id: 0, name: '0', price: '-100.00' }]);
    assert.equal(r.status, 200, r.text);
    const f = q(`SELECT * FROM ducklake_data_file WHERE table_id = ${tid} ORDER BY data_file_id`);
    assert.equal(f.length, 2);
    assert.equal(n(f[1].row_id_start), 3);
    assert.equal(n(f[1].data_file_id), n(file0.data_file_id) + 1);
    const ts = q(`SELECT * FROM ducklake_table_stats WHERE table_id = ${tid}`)[0];
    assert.deepEqual([n(ts.record_count), n(ts.next_row_id)], [5, 5]);
    assert.equal(n(ts.file_size_bytes), n(f[0].file_size_bytes) + n(f[1].file_size_bytes));
    const tcs = Object.fromEntries(q(`SELECT * FROM ducklake_table_column_stats WHERE table_id = ${tid}`).map((c) => [n(c.column_id), c]));
    assert.deepEqual([tcs[1].min_value, tcs[1].max_value], ['0', '10'], 'typed merge, not text (10 > 3)');
    assert.deepEqual([tcs[2].min_value, tcs[2].max_value], ['0', 'z']);
    assert.deepEqual([tcs[5].min_value, tcs[5].max_value], ['-100.00', '99.99']);
    assert.equal(q(`SELECT count(*) AS c FROM ducklake_table_column_stats WHERE table_id = ${tid}`)[0].c * 1, 5, 'still one row per leaf');
  });

  it('DROP TABLE ends table, columns, tag and files in one snapshot; nothing is deleted (§7.6)', { skip }, async () => {
    const before = latest();
    const r = await api.drop('spec');
    assert.equal(r.status, 200, r.text);
    const S = r.json.snapshot_id;
    const s = latest();
    assert.equal(n(s.schema_version), n(before.schema_version) + 1);
    assert.equal(n(s.next_file_id), n(before.next_file_id));
    assert.equal(changes(S), `dropped_table:${tid}`);
    for (const [table, key] of [
      ['ducklake_table', 'table_id'],
      ['ducklake_column', 'table_id'],
      ['ducklake_data_file', 'table_id'],
      ['ducklake_tag', 'object_id'],
    ]) {
      const rows = q(`SELECT end_snapshot FROM ${table} WHERE ${key} = ${tid}`);
      assert.ok(rows.length > 0, table);
      for (const row of rows) assert.equal(n(row.end_snapshot), S, `${table}.end_snapshot`);
    }
    assert.equal(q('SELECT * FROM ducklake_files_scheduled_for_deletion').length, 0, 'files stay for time travel');
    assert.ok(fs.existsSync(path.join(ctx.server.env.DATA_DIR, 'lake', 'main', 'spec', file0.path)));
    // snapshots are dense and every change string is one the extension parses
    const snaps = q('SELECT s.snapshot_id, c.changes_made FROM ducklake_snapshot s JOIN ducklake_snapshot_changes c USING (snapshot_id) ORDER BY 1');
    assert.deepEqual(snaps.map((r) => n(r.snapshot_id)), [...Array(snaps.length).keys()]);
    for (const r2 of snaps) assert.match(r2.changes_made, /^(created_schema:"[^"]+"|created_table:"[^"]+"\."[^"]+"|inserted_into_table:\d+|dropped_table:\d+)(,.*)?$/);
  });

  it('a partitioned INSERT writes one file per key tuple with partition_id and file_partition_value (§3.14, §7.10)', { skip }, async () => {
    // POST /tables takes column names (identity keys); the transforms are covered by the unit
    // test and by the interop case below, where the extension sets them
    assert.equal((await api.create('parted', { id: 'BIGINT', k: 'VARCHAR', m: 'INTEGER' }, { partition_by: ['k', 'm'] })).status, 201);
    const pid = n(q("SELECT i.partition_id FROM ducklake_partition_info i JOIN ducklake_table t USING (table_id) WHERE t.table_name = 'parted' AND i.end_snapshot IS NULL")[0].partition_id);
    const before = latest();
    const r = await api.appendRows('parted', [
      { id: 1, k: 'x', m: 3 },
      { id: 2, k: 'x', m: 3 },
      { id: 3, k: 'x', m: 3 },
      { id: 4, k: null, m: 11 },
      { id: 5, k: 'y=1', m: null },
    ]);
    assert.equal(r.status, 200, r.text);
    const S = r.json.snapshot_id;
    assert.equal(n(latest().next_file_id), n(before.next_file_id) + 3, '3 key tuples');
    assert.equal(changes(S), `inserted_into_table:${n(q("SELECT table_id FROM ducklake_table WHERE table_name = 'parted'")[0].table_id)}`);
    const files = q(`SELECT d.data_file_id, d.path, d.record_count, d.partition_id FROM ducklake_data_file d JOIN ducklake_table t USING (table_id) WHERE t.table_name = 'parted' ORDER BY d.path`);
    assert.deepEqual(
      files.map((f) => [f.path.replace(/ducklake-[0-9a-f-]{36}\.parquet$/, ''), n(f.record_count), n(f.partition_id)]),
      [
        ['k=__HIVE_DEFAULT_PARTITION__/m=11/', 1, pid],
        ['k=x/m=3/', 3, pid],
        ['k=y%3D1/m=__HIVE_DEFAULT_PARTITION__/', 1, pid],
      ]
    );
    const vals = files.map((f) =>
      q(`SELECT partition_key_index, partition_value FROM ducklake_file_partition_value WHERE data_file_id = ${f.data_file_id} ORDER BY 1`).map((v) => [n(v.partition_key_index), v.partition_value])
    );
    assert.deepEqual(vals, [
      [[0, null], [1, '11']],
      [[0, 'x'], [1, '3']],
      [[0, 'y=1'], [1, null]],
    ]);
    for (const f of files) assert.ok(fs.existsSync(path.join(ctx.server.env.DATA_DIR, 'lake', 'main', 'parted', f.path)), f.path);
    const got = await api.query('parted', 'SELECT id, k, m FROM parted ORDER BY id', { accept: 'application/json' });
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(got.json.result.map((x) => [Number(x.id), x.k, x.m]), [
      [1, 'x', 3],
      [2, 'x', 3],
      [3, 'x', 3],
      [4, null, 11],
      [5, 'y=1', null],
    ]);
  });

  stopsCleanly(ctx);
});

/* ---- interop: the extension reads our lake -------------------------------------------------- */

const INTEROP_TYPES = {
  id: 'INTEGER', b: 'BOOLEAN', ti: 'TINYINT', bi: 'BIGINT', ub: 'UBIGINT', f: 'FLOAT', d: 'DOUBLE',
  dc: 'DECIMAL(38,10)', v: 'VARCHAR', bl: 'BLOB', dt: 'DATE', tm: 'TIME', ts: 'TIMESTAMP', tsn: 'TIMESTAMP_NS',
  tsm: 'TIMESTAMP_MS', tss: 'TIMESTAMP_S', tz: 'TIMESTAMPTZ', iv: 'INTERVAL', u: 'UUID', j: 'JSON', l: 'INTEGER[]',
  st: 'STRUCT(a INTEGER, b VARCHAR)', m: 'MAP(VARCHAR, DOUBLE)', ls: 'STRUCT(k VARCHAR, v BIGINT[])[]',
};

describe('tables: the official extension reads a lake this server wrote (sqlite)', () => {
  const why =
    BACKEND !== 'sqlite'
      ? 'interop runs on the SQLite catalog (no PostgreSQL build of the reference extension here)'
      : !duckdbRef()
        ? 'no reference DuckDB (DLB_DUCKDB_REF or ../shared/tools/ducklake-reference/duckdb-ref)'
        : !haveSqliteReader()
          ? 'needs python3 with sqlite3 to copy the catalog'
          : false;

  it('every table at every snapshot, snapshots() and extreme values match what the server answers', { skip: why }, async () => {
    const s = await startServer();
    try {
      const api = lakeApi(s);
      const tmp = makeTmpDir('dlb-interop-');
      assert.equal((await api.create('types', INTEROP_TYPES, { comment: 'interop' })).status, 201);
      const r1 = await api.appendRows('types', [
        {
          id: 1, b: true, ti: -128, bi: '-9223372036854775808', ub: '18446744073709551615', f: 'NaN', d: '-Infinity',
          dc: '-9999999999999999999999999999.9999999999', v: 'ünïcödé 😀 "q"', bl: '\\x00\\xFF', dt: '0001-01-01',
          tm: '23:59:59.999999', ts: '9999-12-31 23:59:59.999999', tsn: '2262-04-11 23:47:16.854775806',
          tsm: '1970-01-01 00:00:00.001', tss: '2000-01-01 00:00:01', tz: '2024-02-29T12:34:56.123456+05:30',
          iv: '1 year 2 months 3 days 04:05:06.789', u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', j: { a: [1, 'x', null] },
          l: [1, null, 3], st: { a: 1, b: null }, m: { k: 1.5 }, ls: [{ k: 'a', v: [1, 2] }, null],
        },
        { id: 2 },
      ]);
      assert.equal(r1.status, 200, r1.text);
      assert.equal((await api.appendBody('types', 'id,v,d,dc\n3,"a,b",0.1,9999999999999999999999999999.9999999999\n4,,,\n', 'text/csv')).status, 200);
      assert.equal((await api.create('ev', { k: 'VARCHAR', n: 'BIGINT' }, { schema_name: 's2' })).status, 201);
      assert.equal((await api.appendRows('s2.ev', [{ k: 'x', n: 1 }, { k: 'y', n: 2 }])).status, 200);
      assert.equal((await api.create('gone', { a: 'INTEGER' })).status, 201);
      assert.equal((await api.appendRows('gone', [{ a: 7 }])).status, 200);
      assert.equal((await api.drop('gone')).status, 200);
      assert.equal((await api.create('gone', { b: 'VARCHAR' })).status, 201, 'name reused after the drop');
      assert.equal((await api.appendRows('types', [{ id: 5, v: 'last' }])).status, 200);

      // what the server answers, snapshot by snapshot
      const snaps = (await api.snapshots()).json.snapshots;
      const checks = [];
      for (const snap of snaps) {
        const v = snap.snapshot_id;
        const list = (await api.list(`?snapshot=${v}&details=true`)).json.tables;
        for (const t of list) {
          const qname = t.schema === 'main' ? `"${t.name}"` : `"${t.schema}"."${t.name}"`;
          const ref = t.schema === 'main' ? t.name : `${t.schema}.${t.name}`;
          const pq = await api.query(ref, `SELECT * FROM ${qname}`, { accept: 'application/vnd.apache.parquet', qs: `?snapshot=${v}` });
          assert.equal(pq.status, 200, `${ref}@${v}: ${pq.text.slice(0, 300)}`);
          const file = path.join(tmp, `s${v}_t${t.table_id}.parquet`);
          fs.writeFileSync(file, pq.body);
          const schema = (await api.get(ref, `?snapshot=${v}`)).json.schema;
          checks.push({ v, t, qname: t.schema === 'main' ? `l.${qname}` : `l.${qname}`, file, schema });
        }
      }
      // a consistent copy of the catalog (SQLite backup API) so the extension never fights the server
      const cat = path.join(tmp, 'catalog.sqlite');
      const py = `import sqlite3,sys\nsrc=sqlite3.connect(sys.argv[1]); dst=sqlite3.connect(sys.argv[2]); src.backup(dst); dst.close()`;
      const { spawnSync } = await import('node:child_process');
      assert.equal(spawnSync('python3', ['-c', py, path.join(s.env.DATA_DIR, 'catalog.sqlite'), cat]).status, 0);

      const attach = `ATTACH ${lit(`ducklake:sqlite:${cat}`)} AS l (READ_ONLY);`;
      // snapshots() against GET /snapshots
      const ext = duckRef(`${attach} SELECT snapshot_id, changes FROM l.snapshots() ORDER BY snapshot_id;`);
      assert.deepEqual(
        ext.map((r) => [r.snapshot_id, r.changes]),
        snaps.map((x) => [x.snapshot_id, Object.fromEntries(Object.entries(x.changes).map(([k, vals]) => [k, vals.map(String)]))])
      );
      // every table at every snapshot: same columns and types, same multiset of rows
      const parts = checks.map(
        (c, i) =>
          `SELECT ${i} AS i, (SELECT count(*) FROM ${c.qname} AT (VERSION => ${c.v})) AS cnt, ` +
          `(SELECT count(*) FROM (FROM ${c.qname} AT (VERSION => ${c.v}) EXCEPT ALL FROM read_parquet(${lit(c.file)}))) AS only_ext, ` +
          `(SELECT count(*) FROM (FROM read_parquet(${lit(c.file)}) EXCEPT ALL FROM ${c.qname} AT (VERSION => ${c.v}))) AS only_srv, ` +
          `(SELECT string_agg(column_name || ' ' || column_type, ', ') FROM (DESCRIBE FROM ${c.qname} AT (VERSION => ${c.v}))) AS cols`
      );
      const res = duckRef(`${attach} ${parts.join(' UNION ALL ')} ORDER BY i;`);
      assert.equal(res.length, checks.length);
      for (const r of res) {
        const c = checks[r.i];
        const what = `${c.qname} at snapshot ${c.v}`;
        assert.equal(r.cnt, c.t.row_count, `${what}: row count`);
        assert.equal(r.only_ext, 0, `${what}: rows only the extension sees`);
        assert.equal(r.only_srv, 0, `${what}: rows only the server answers`);
        assert.equal(r.cols, Object.entries(c.schema).map(([k, ty]) => `${k} ${ty}`).join(', '), `${what}: columns`);
      }
      assert.ok(checks.some((c) => c.t.name === 'gone' && c.schema.a), 'the dropped table was compared too');
      // values the extension reads, as text, against what was appended
      const vals = duckRef(
        `${attach} SELECT CAST(bi AS VARCHAR) bi, CAST(ub AS VARCHAR) ub, CAST(dc AS VARCHAR) dc, CAST(f AS VARCHAR) f, CAST(d AS VARCHAR) d, v, hex(bl) bl, CAST(dt AS VARCHAR) dt, CAST(tsn AS VARCHAR) tsn, CAST(tz AS VARCHAR) tz, CAST(iv AS VARCHAR) iv, CAST(u AS VARCHAR) u, CAST(j AS VARCHAR) j, CAST(l AS VARCHAR) l, CAST(ls AS VARCHAR) ls FROM l.types WHERE id = 1;`
      );
      assert.deepEqual(vals, [
        {
          bi: '-9223372036854775808', ub: '18446744073709551615', dc: '-9999999999999999999999999999.9999999999', f: 'nan',
          d: '-inf', v: 'ünïcödé 😀 "q"', bl: '00FF', dt: '0001-01-01', tsn: '2262-04-11 23:47:16.854775806',
          tz: '2024-02-29 07:04:56.123456+00', iv: '1 year 2 months 3 days 04:05:06.789', u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
          j: '{"a":[1,"x",null]}', l: '[1, NULL, 3]', ls: "[{'k': a, 'v': [1, 2]}, NULL]",
        },
      ]);
      const big = duckRef(`${attach} SELECT CAST(dc AS VARCHAR) dc, CAST(d AS VARCHAR) d FROM l.types WHERE id = 3;`);
      assert.deepEqual(big, [{ dc: '9999999999999999999999999999.9999999999', d: '0.1' }]);
    } finally {
      await s.stop();
    }
  });

  it('a partitioned table (identity, year, month, NULL keys): same rows, pruning and Hive paths', { skip: why }, async () => {
    const s = await startServer();
    try {
      const api = lakeApi(s);
      const tmp = makeTmpDir('dlb-interop-part-');
      assert.equal((await api.create('pt', { id: 'BIGINT', k: 'VARCHAR', ts: 'TIMESTAMP', d: 'DATE' }, { partition_by: ['k'] })).status, 201);
      // the transforms are set by the extension itself, on the live catalog: the server writes
      // under whatever scheme is in force at the commit
      duckRef(`ATTACH ${lit(`ducklake:sqlite:${path.join(s.env.DATA_DIR, 'catalog.sqlite')}`)} AS w; ALTER TABLE w.pt SET PARTITIONED BY (k, year(ts), month(d)); DETACH w;`);
      const rows = [];
      for (let i = 0; i < 60; i++) {
        rows.push({
          id: i,
          k: i % 7 === 0 ? null : ['a', 'b c', 'd/e'][i % 3],
          ts: i % 11 === 0 ? null : `${2022 + (i % 3)}-0${1 + (i % 9)}-15 12:00:00`,
          d: `2024-${String(1 + (i % 12)).padStart(2, '0')}-01`,
        });
      }
      const a1 = await api.appendRows('pt', rows);
      assert.equal(a1.status, 200, a1.text);
      const a2 = await api.appendRows('pt', [{ id: 100, k: 'a', ts: '2023-01-01', d: null }]);
      assert.equal(a2.status, 200, a2.text);
      const cat = path.join(tmp, 'catalog.sqlite');
      const py = `import sqlite3,sys\nsrc=sqlite3.connect(sys.argv[1]); dst=sqlite3.connect(sys.argv[2]); src.backup(dst); dst.close()`;
      const { spawnSync } = await import('node:child_process');
      assert.equal(spawnSync('python3', ['-c', py, path.join(s.env.DATA_DIR, 'catalog.sqlite'), cat]).status, 0);
      const attach = `ATTACH ${lit(`ducklake:sqlite:${cat}`)} AS l (READ_ONLY);`;
      const ours = async (sql) => {
        const r = await api.query('pt', sql, { accept: 'application/json' });
        assert.equal(r.status, 200, r.text);
        return r.json.result;
      };
      // every row, as text
      const all = 'SELECT id, k, CAST(ts AS VARCHAR) AS ts, CAST(d AS VARCHAR) AS d FROM pt ORDER BY id';
      const srv = await ours(all);
      assert.equal(srv.length, 61);
      assert.deepEqual(duckRef(`${attach} ${all.replace('FROM pt', 'FROM l.pt')};`), srv);
      // filters on the partition keys, with and without NULL keys
      for (const where of ["year(ts) = 2023", 'ts IS NULL', "k = 'b c'", 'k IS NULL', "month(d) = 6 AND k = 'd/e'", "year(ts) = 2024 AND k IS NULL"]) {
        const sql = `SELECT count(*) AS c, coalesce(sum(id), -1) AS s FROM pt WHERE ${where}`;
        const mine = await ours(sql);
        const ext = duckRef(`${attach} ${sql.replace('FROM pt', 'FROM l.pt')};`);
        assert.deepEqual(ext.map((x) => [Number(x.c), Number(x.s)]), mine.map((x) => [Number(x.c), Number(x.s)]), where);
        assert.ok(Number(mine[0].c) > 0, `${where} selects rows`);
      }
      // the files the extension lists are the Hive paths of their key values
      const listed = duckRef(`${attach} SELECT data_file FROM ducklake_list_files('l', 'pt') ORDER BY 1;`).map((x) => x.data_file);
      const files = sqliteQuery(cat, "SELECT d.path, d.record_count FROM ducklake_data_file d JOIN ducklake_table t USING (table_id) WHERE t.table_name = 'pt'");
      assert.equal(listed.length, files.length);
      assert.ok(files.length > 20, `one file per key tuple (${files.length})`);
      assert.ok(listed.some((f) => f.includes('/pt/k=d%2Fe/year=2024/month=')), listed.slice(0, 5).join('\n'));
      assert.ok(listed.some((f) => f.includes('/pt/k=__HIVE_DEFAULT_PARTITION__/')));
      assert.ok(listed.some((f) => f.includes('/year=__HIVE_DEFAULT_PARTITION__/')));
      assert.ok(listed.some((f) => f.includes('/pt/k=a/year=2023/month=__HIVE_DEFAULT_PARTITION__/')), 'the second append, d NULL');
      // each file holds exactly the rows of its key values (what pruning by partition relies on)
      const mismatched = duckRef(
        `${attach} SELECT count(*) AS n, count(*) FILTER (WHERE v0.partition_value IS DISTINCT FROM r.k OR v1.partition_value IS DISTINCT FROM CAST(r.y AS VARCHAR) OR v2.partition_value IS DISTINCT FROM CAST(r.m AS VARCHAR)) AS bad FROM (SELECT filename, k, year(ts) AS y, month(d) AS m FROM read_parquet(${lit(
          path.join(s.env.DATA_DIR, 'lake', 'main', 'pt') + '/**/*.parquet'
        )}, filename = true, hive_partitioning = false)) r JOIN __ducklake_metadata_l.ducklake_data_file f ON ends_with(r.filename, '/pt/' || f.path) ` +
          `LEFT JOIN __ducklake_metadata_l.ducklake_file_partition_value v0 ON v0.data_file_id = f.data_file_id AND v0.partition_key_index = 0 ` +
          `LEFT JOIN __ducklake_metadata_l.ducklake_file_partition_value v1 ON v1.data_file_id = f.data_file_id AND v1.partition_key_index = 1 ` +
          `LEFT JOIN __ducklake_metadata_l.ducklake_file_partition_value v2 ON v2.data_file_id = f.data_file_id AND v2.partition_key_index = 2 ` +
          `;`
      );
      assert.deepEqual(mismatched.map((x) => [Number(x.n), Number(x.bad)]), [[61, 0]]);
    } finally {
      await s.stop();
    }
  });
});

/* ---- interop: this server reads the golden lake the extension wrote ---------------------- */

describe('tables: this server reads the lake the official extension wrote (golden, sqlite)', () => {
  const why =
    BACKEND !== 'sqlite'
      ? 'the golden lake has a SQLite catalog'
      : !goldenDir()
        ? 'no golden lake (DLB_GOLDEN_DIR or ../shared/research/ducklake-golden)'
        : !duckdbRef()
          ? 'no reference DuckDB to format the answers as the expected CSV files'
          : !haveSqliteReader()
            ? 'needs python3 with sqlite3 to rewrite the data path'
            : false;

  it('GET /tables, row counts and SELECT * of every table at every snapshot equal expected/', { skip: why }, async () => {
    const golden = goldenDir();
    const dir = makeTmpDir('dlb-golden-');
    fs.copyFileSync(path.join(golden, 'catalog.sqlite'), path.join(dir, 'catalog.sqlite'));
    fs.cpSync(path.join(golden, 'data'), path.join(dir, 'golden-data'), { recursive: true });
    sqliteQuery(path.join(dir, 'catalog.sqlite'), `UPDATE ducklake_metadata SET value = ${lit(path.join(dir, 'golden-data') + '/')} WHERE key = 'data_path'`, { rw: true });
    const s = await startServer({ DATA_DIR: dir });
    try {
      const api = lakeApi(s);
      const latest = await api.list('?details=true');
      assert.equal(latest.status, 200, latest.text);
      assert.deepEqual([...(await api.list()).json.tables].sort(), ['persons', 's1.ev']);
      const snaps = (await api.snapshots()).json.snapshots;
      assert.deepEqual(snaps.map((x) => x.snapshot_id), [...Array(29).keys()]);
      const expectedDir = path.join(golden, 'expected');
      const work = makeTmpDir('dlb-golden-out-');
      const jobs = [];
      for (let v = 0; v <= 28; v++) {
        const list = (await api.list(`?snapshot=${v}&details=true`)).json.tables;
        for (const t of list) {
          const exp = path.join(expectedDir, `t${t.table_id}_v${String(v).padStart(2, '0')}.csv`);
          if (!fs.existsSync(exp)) continue;
          const lines = fs.readFileSync(exp, 'utf8').split('\n').filter((l) => l.length);
          assert.equal(t.row_count, lines.length - 1, `row count of ${t.schema}.${t.name} at ${v}`);
          const ref = t.schema === 'main' ? t.name : `${t.schema}.${t.name}`;
          const qname = t.schema === 'main' ? `"${t.name}"` : `"${t.schema}"."${t.name}"`;
          const pq = await api.query(ref, `SELECT * FROM ${qname}`, { accept: 'application/vnd.apache.parquet', qs: `?snapshot=${v}` });
          assert.equal(pq.status, 200, `${ref}@${v}: ${pq.text.slice(0, 300)}`);
          const file = path.join(work, `t${t.table_id}_v${v}.parquet`);
          fs.writeFileSync(file, pq.body);
          jobs.push({ v, t, exp, file, out: file.replace(/\.parquet$/, '.csv') });
        }
      }
      assert.ok(jobs.length >= 41, `compared ${jobs.length} (table, snapshot) pairs`);
      duckRef(jobs.map((j) => `COPY (FROM read_parquet(${lit(j.file)})) TO ${lit(j.out)} (HEADER);`).join('\n'));
      for (const j of jobs) {
        const [eh, ...erows] = fs.readFileSync(j.exp, 'utf8').split('\n').filter((l) => l.length);
        const [gh, ...grows] = fs.readFileSync(j.out, 'utf8').split('\n').filter((l) => l.length);
        const what = `${j.t.schema}.${j.t.name} at snapshot ${j.v}`;
        assert.equal(gh, eh.replace(/^__rowid,/, ''), `${what}: header`);
        assert.deepEqual(grows.sort(), erows.map((l) => l.replace(/^\d+,/, '')).sort(), `${what}: rows`);
      }
    } finally {
      await s.stop();
    }
  });
});

/* ---- interop: large files the extension wrote, read on every thread ----------------------- */

describe('tables: large files the extension wrote are read in parallel, value for value (sqlite)', () => {
  const why =
    BACKEND !== 'sqlite'
      ? 'the reference extension here writes SQLite catalogs only'
      : !duckdbRef()
        ? 'no reference DuckDB (DLB_DUCKDB_REF or ../shared/tools/ducklake-reference/duckdb-ref)'
        : false;

  it('a 300,000-row file with a rename, an added column, deletes and an update: every snapshot equals the extension', { skip: why }, async () => {
    const dir = makeTmpDir('dlb-bigext-');
    const cat = path.join(dir, 'catalog.sqlite');
    const attach = `ATTACH ${lit(`ducklake:sqlite:${cat}`)} AS l (DATA_PATH ${lit(path.join(dir, 'lake') + '/')});`;
    duckRef(
      `${attach} CREATE TABLE l.big AS SELECT i AS id, 'n' || i AS name, i * 0.5 AS v FROM range(300000) t(i);
       ALTER TABLE l.big RENAME COLUMN name TO label;
       ALTER TABLE l.big ADD COLUMN flag INTEGER DEFAULT 7;
       DELETE FROM l.big WHERE id % 1000 = 3;
       UPDATE l.big SET v = -1 WHERE id BETWEEN 150000 AND 150009;
       INSERT INTO l.big (id, label, v) VALUES (300000, 'last', 1.5);
       SELECT 1;`
    );
    const s = await startServer({ DATA_DIR: dir });
    try {
      const api = lakeApi(s);
      const snaps = (await api.snapshots()).json.snapshots.map((x) => x.snapshot_id);
      assert.ok(snaps.length >= 7, `snapshots: ${snaps}`);
      // The relation lists the pad file beside the large file: DuckDB reads it on every thread.
      const views = await api.rows('big', "SELECT sql FROM duckdb_views() WHERE view_name LIKE '__dlb_rel_%'");
      assert.ok(views.some((x) => /dlb-pad-[0-9a-f]{16}\.parquet/.test(x.sql)), views.map((x) => x.sql.slice(0, 300)).join('\n'));
      // A filter on the row id reaches file_row_number in the scan (DuckDB 1.5 fails there when
      // a file of the scan lacks a mapped column another has: the pad has them all).
      const rid = await api.query('big', 'SELECT count(*)::INTEGER AS c FROM __dlb_rel_1 WHERE __dlb_rowid < 100');
      assert.equal(rid.status, 200, rid.text.slice(0, 300));
      assert.deepEqual(rid.json.result, [{ c: 99 }]);
      let compared = 0;
      for (const v of snaps) {
        const sql = 'SELECT count(*)::VARCHAR AS c, sum(hash(big))::VARCHAR AS h, max(id)::VARCHAR AS m FROM big';
        let ext;
        try {
          ext = duckRef(`${attach} ${sql.replace('FROM big', `FROM (SELECT * FROM l.big AT (VERSION => ${v})) big`)};`);
        } catch (e) {
          if (!/does not exist at version/.test(e.message)) throw e;
        }
        const r = await api.query('big', sql, { qs: `?snapshot=${v}` });
        if (!ext) {
          assert.equal(r.status, 404, `@${v}: the table did not exist yet: ${r.text.slice(0, 200)}`);
          continue;
        }
        assert.equal(r.status, 200, `@${v}: ${r.text.slice(0, 300)}`);
        assert.deepEqual(r.json.result, ext, `snapshot ${v}`);
        compared++;
      }
      assert.ok(compared >= 6, `snapshots compared: ${compared}`);
      // rows in order around the update, by value
      const slice = 'SELECT * FROM big WHERE id BETWEEN 149990 AND 150020 ORDER BY id';
      const mine = await api.rows('big', slice);
      const theirs = duckRef(`${attach} ${slice.replace('FROM big', 'FROM l.big')};`);
      assert.equal(mine.length, 30);
      assert.deepEqual(
        mine.map((x) => [Number(x.id), x.label, Number(x.v), Number(x.flag)]),
        theirs.map((x) => [Number(x.id), x.label, Number(x.v), Number(x.flag)])
      );
      // the Parquet answer of the whole table (the sandboxed COPY) reads back the same
      const pq = await api.query('big', 'SELECT * FROM big', { accept: 'application/vnd.apache.parquet' });
      assert.equal(pq.status, 200, pq.text?.slice(0, 300));
      const file = path.join(dir, 'answer.parquet');
      fs.writeFileSync(file, pq.body);
      const back = duckRef(`SELECT count(*)::VARCHAR AS c, sum(hash(big))::VARCHAR AS h, max(id)::VARCHAR AS m FROM read_parquet(${lit(file)}) big;`);
      const now = duckRef(`${attach} SELECT count(*)::VARCHAR AS c, sum(hash(big))::VARCHAR AS h, max(id)::VARCHAR AS m FROM l.big big;`);
      assert.deepEqual(back, now);
    } finally {
      await s.stop();
    }
  });
});
