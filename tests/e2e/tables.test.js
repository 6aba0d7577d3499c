// DuckLake tables through the API: every endpoint, every type round-tripping exactly, time
// travel, the 406/409/415/422 cases and the injection / file-access refusals.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { BACKEND, expectError, fetchJson, makeTmpDir, request, stopsCleanly } from './lib/server.js';
import { LAKE, Num, duckRef, duckdbRef, lakeApi, lit, multipartBody, num, parseLossless, raw, useLakeServer } from './lib/lake.js';

/** Suite titles name the lake's place when it is on S3 (tables_s3.test.js). */
const WHERE = LAKE === 's3' ? `${BACKEND}, lake on S3` : BACKEND;

/** Every type the API accepts, one column each (plus the id used to order rows). */
const ALL_TYPES = {
  id: 'INTEGER NOT NULL',
  b: 'BOOLEAN',
  ti: 'TINYINT',
  si: 'SMALLINT',
  ii: 'INTEGER',
  bi: 'BIGINT',
  ut: 'UTINYINT',
  us: 'USMALLINT',
  ui: 'UINTEGER',
  ub: 'UBIGINT',
  f: 'FLOAT',
  d: 'DOUBLE',
  dc: 'DECIMAL(38,10)',
  d4: 'DECIMAL(4,1)',
  v: 'VARCHAR',
  bl: 'BLOB',
  dt: 'DATE',
  tm: 'TIME',
  ts: 'TIMESTAMP',
  tss: 'TIMESTAMP_S',
  tsm: 'TIMESTAMP_MS',
  tsn: 'TIMESTAMP_NS',
  tz: 'TIMESTAMPTZ',
  iv: 'INTERVAL',
  u: 'UUID',
  j: 'JSON',
  l: 'VARCHAR[]',
  st: 'STRUCT(a INTEGER, b VARCHAR)',
  m: 'MAP(VARCHAR, INTEGER)',
  mi: 'MAP(INTEGER, VARCHAR)',
  ls: 'STRUCT(k VARCHAR, v DOUBLE[])[]',
};

/** DuckDB's canonical spelling, as GET /tables/{name} answers it. */
const CANONICAL = {
  ...Object.fromEntries(Object.entries(ALL_TYPES)),
  id: 'INTEGER',
  tz: 'TIMESTAMP WITH TIME ZONE',
};

const UNI = '日本語 ünïcödé 😀 "quote" \\ back\nnl\ttab \u0001';

/** Input rows (JSON append) and what the JSON query answer must hold, column by column. */
const IN = [
  {
    id: 1, b: true, ti: -128, si: -32768, ii: -2147483648, bi: raw('-9223372036854775808'), ut: 0, us: 0, ui: 0, ub: 0,
    f: -3.4028235e38, d: -1.7976931348623157e308, dc: '-9999999999999999999999999999.9999999999', d4: '-999.9',
    v: '', bl: '', dt: '0001-01-01', tm: '00:00:00', ts: '0001-01-01 00:00:00', tss: '1677-09-22 00:00:00',
    tsm: '0001-01-01 00:00:00.001', tsn: '1677-09-22 00:12:43.145224192', tz: '0001-01-01T00:00:00Z', iv: '0 seconds',
    u: '00000000-0000-0000-0000-000000000000', j: {}, l: [], st: { a: null, b: null }, m: {}, mi: { 1: 'x' }, ls: [],
  },
  {
    id: 2, b: false, ti: 127, si: 32767, ii: 2147483647, bi: raw('9223372036854775807'), ut: 255, us: 65535,
    ui: 4294967295, ub: raw('18446744073709551615'), f: 3.4028235e38, d: 1.7976931348623157e308,
    dc: raw('9999999999999999999999999999.9999999999'), d4: '999.9', v: UNI, bl: '\\x00\\x01\\xFE\\xFF',
    dt: '9999-12-31', tm: '23:59:59.999999', ts: '9999-12-31 23:59:59.999999', tss: '2262-04-11 23:47:16',
    tsm: '9999-12-31 23:59:59.999', tsn: '2262-04-11 23:47:16.854775806', tz: '9999-12-31T23:59:59.999999Z',
    // Parquet's INTERVAL holds milliseconds: micro/nanoseconds are beyond the format.
    iv: '1 year 2 months 3 days 04:05:06.789', u: 'ffffffff-ffff-ffff-ffff-ffffffffffff',
    j: { a: [1, 2.5, 'x', null, true], b: { c: 'é' } }, l: ['a', null, '', '😀'], st: { a: 7, b: 'x' },
    m: { k: 1, n: null }, mi: {}, ls: [{ k: 'a', v: [1.5, null] }, { k: null, v: [] }, null],
  },
  {
    id: 3, f: 0.1, d: 0.30000000000000004, dc: '0.0000000001', d4: '0', tz: '2024-02-29T12:34:56.123456+05:30',
    tsn: '2024-02-29 12:34:56.123456789', ts: '2024-02-29 12:34:56.123456', tsm: '2024-02-29 12:34:56.123',
    bl: 'hello', dt: '1970-01-01', tm: '12:00:00.000001', v: 'x'.repeat(1 << 20), u: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
  },
  { id: 4, f: 'NaN', d: 'Infinity' },
  { id: 5, f: '-Infinity', d: 'NaN' },
  { id: 6 },
  { id: 7, f: 1e-45, d: 5e-324, bi: raw('9007199254740993'), ub: '9007199254740993' },
];

const NULL_ROW = Object.fromEntries(Object.keys(ALL_TYPES).map((k) => [k, null]));
const EXPECTED = [
  {
    id: num(1), b: true, ti: num(-128), si: num(-32768), ii: num(-2147483648), bi: num('-9223372036854775808'),
    ut: num(0), us: num(0), ui: num(0), ub: num(0), f: num('-3.4028235e+38'), d: num('-1.7976931348623157e+308'),
    dc: num('-9999999999999999999999999999.9999999999'), d4: num('-999.9'), v: '', bl: '', dt: '0001-01-01',
    tm: '00:00:00', ts: '0001-01-01T00:00:00', tss: '1677-09-22T00:00:00', tsm: '0001-01-01T00:00:00.001',
    tsn: '1677-09-22T00:12:43.145224192', tz: '0001-01-01T00:00:00+00:00', iv: 'PT0S',
    u: '00000000-0000-0000-0000-000000000000', j: {}, l: [], st: { a: null, b: null }, m: {},
    mi: [{ key: num(1), value: 'x' }], ls: [],
  },
  {
    id: num(2), b: false, ti: num(127), si: num(32767), ii: num(2147483647), bi: num('9223372036854775807'),
    ut: num(255), us: num(65535), ui: num(4294967295), ub: num('18446744073709551615'), f: num('3.4028235e+38'),
    d: num('1.7976931348623157e+308'), dc: num('9999999999999999999999999999.9999999999'), d4: num('999.9'),
    v: UNI, bl: Buffer.from([0, 1, 0xfe, 0xff]).toString('base64'), dt: '9999-12-31', tm: '23:59:59.999999',
    ts: '9999-12-31T23:59:59.999999', tss: '2262-04-11T23:47:16', tsm: '9999-12-31T23:59:59.999',
    tsn: '2262-04-11T23:47:16.854775806', tz: '9999-12-31T23:59:59.999999+00:00', iv: 'P1Y2M3DT4H5M6.789S',
    u: 'ffffffff-ffff-ffff-ffff-ffffffffffff', j: { a: [num(1), num(2.5), 'x', null, true], b: { c: 'é' } },
    l: ['a', null, '', '😀'], st: { a: num(7), b: 'x' }, m: { k: num(1), n: null }, mi: [],
    ls: [{ k: 'a', v: [num(1.5), null] }, { k: null, v: [] }, null],
  },
  {
    ...NULL_ROW, id: num(3), f: num('0.1'), d: num('0.30000000000000004'), dc: num('0.0000000001'), d4: num('0.0'),
    tz: '2024-02-29T07:04:56.123456+00:00', tsn: '2024-02-29T12:34:56.123456789', ts: '2024-02-29T12:34:56.123456',
    tsm: '2024-02-29T12:34:56.123', bl: Buffer.from('hello').toString('base64'), dt: '1970-01-01',
    tm: '12:00:00.000001', v: 'x'.repeat(1 << 20), u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  },
  // NaN and infinities have no JSON form: null in JSON, exact in CSV (checked below).
  { ...NULL_ROW, id: num(4) },
  { ...NULL_ROW, id: num(5) },
  { ...NULL_ROW, id: num(6) },
  // denormals: any text that parses back to the same float/double is exact (checked by value)
  { ...NULL_ROW, id: num(7), f: num('1e-45'), d: num('5e-324'), bi: num('9007199254740993'), ub: num('9007199254740993') },
];

/** Float texts are equal when they parse to the same value; everything else compares as is. */
function sameValue(col, got, want) {
  if ((col === 'f' || col === 'd') && got instanceof Num && want instanceof Num) {
    const g = Number(got.text);
    const w = Number(want.text);
    return col === 'f' ? Math.fround(g) === Math.fround(w) : g === w;
  }
  return false;
}

function diffRows(got, want) {
  assert.equal(got.length, want.length, 'row count');
  for (let r = 0; r < want.length; r++)
    for (const k of Object.keys(want[r])) {
      if (sameValue(k, got[r][k], want[r][k])) continue;
      assert.deepEqual(got[r][k], want[r][k], `row ${r + 1}, column ${k}: ${JSON.stringify(got[r][k])?.slice(0, 200)}`);
    }
}

async function lakeState(api, tables) {
  const snaps = (await api.snapshots()).json.snapshots.map((s) => [s.snapshot_id, s.changes_made]);
  const list = (await api.list('?details=true')).json.tables;
  const rows = {};
  for (const t of tables) rows[t] = await api.rows(t, `SELECT * FROM ${t} ORDER BY ALL`);
  return { snaps, list, rows };
}

describe(`tables: endpoints (${WHERE})`, () => {
  const ctx = useLakeServer();
  let api;
  const SIMPLE = { id: 'INTEGER', name: 'VARCHAR', price: 'DECIMAL(10,2)' };

  it('POST /tables creates a table with every type, a comment, a schema and partitioning', async () => {
    api = lakeApi(ctx.server);
    const r = await api.create('all_types', ALL_TYPES, { comment: 'every type ✓' });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.name, 'all_types');
    assert.equal(r.json.schema_name, 'main');
    assert.equal(r.json.type, 'ducklake');
    assert.ok(Number.isInteger(r.json.snapshot_id) && r.json.snapshot_id > 0);
    const g = await api.get('all_types');
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.type, 'ducklake');
    assert.equal(g.json.comment, 'every type ✓');
    assert.deepEqual(g.json.schema, CANONICAL);
    assert.deepEqual(g.json.columns.map((c) => c.name), Object.keys(ALL_TYPES));
    const byName = Object.fromEntries(g.json.columns.map((c) => [c.name, c]));
    assert.equal(byName.id.nullable, false, 'NOT NULL');
    assert.equal(byName.b.nullable, true);
    // column ids: depth-first from 1, children of nested types take ids too
    assert.equal(byName.id.column_id, 1);
    assert.equal(byName.b.column_id, 2);
    assert.equal(byName.st.column_id, byName.l.column_id + 2, 'list + element');
    assert.equal(byName.m.column_id, byName.st.column_id + 3, 'struct + 2 fields');
    assert.equal(byName.dc.ducklake_type, 'decimal(38,10)');
    assert.equal(byName.tz.ducklake_type, 'timestamptz');
    assert.equal(byName.ls.ducklake_type, 'list');
    assert.equal(g.json.row_count, 0);
    assert.equal(g.json.file_count, 0);
    assert.equal(g.json.snapshot_id, r.json.snapshot_id);

    const p = await api.create('events', { ts: 'TIMESTAMP', kind: 'VARCHAR', n: 'BIGINT' }, {
      schema_name: 'sales',
      partition_by: ['kind'],
    });
    assert.equal(p.status, 201, p.text);
    assert.equal(p.json.schema_name, 'sales');
    const gp = await api.get('sales.events');
    assert.equal(gp.status, 200, gp.text);
    assert.equal(gp.json.schema_name, 'sales');
    assert.ok(Array.isArray(gp.json.partitioning) && gp.json.partitioning.length === 1, JSON.stringify(gp.json.partitioning));
    assert.match(JSON.stringify(gp.json.partitioning), /kind/);
    const gq = await api.get('events', '?schema_name=sales');
    assert.equal(gq.status, 200, gq.text);
    assert.equal((await api.create('simple', SIMPLE)).status, 201);
  });

  it('POST /tables answers 409 for an existing table and 422 naming a bad type or name', async () => {
    expectError(assert, await api.create('simple', SIMPLE), 409, 'table_exists');
    expectError(assert, await api.create('SIMPLE', SIMPLE), 409, 'table_exists');
    let e = expectError(assert, await api.create('x1', { a: 'INTEGER', b: 'NOSUCHTYPE' }), 422, 'invalid_type');
    assert.match(e.detail, /NOSUCHTYPE/);
    assert.match(e.detail, /'b'/);
    e = expectError(assert, await api.create('x1', { a: 'DECIMAL(39,2)' }), 422, 'invalid_type');
    assert.match(e.detail, /DECIMAL\(39,2\)/);
    e = expectError(assert, await api.create('1bad', { a: 'INTEGER' }), 422, 'invalid_name');
    assert.match(e.detail, /1bad/);
    e = expectError(assert, await api.create('ok', { 'bad col': 'INTEGER' }), 422, 'invalid_name');
    assert.match(e.detail, /bad col/);
    e = expectError(assert, await api.create('ok', { a: 'INTEGER' }, { schema_name: 'bad-schema' }), 422, 'invalid_name');
    assert.match(e.detail, /bad-schema/);
    expectError(assert, await api.create('ok', {}), 422, 'validation_error');
    e = expectError(assert, await api.create('ok', { a: 'INTEGER' }, { partition_by: ['nope'] }), 422, 'invalid_partition');
    assert.match(e.detail, /nope/);
    e = expectError(assert, await api.create('ok', { a: 'INTEGER' }, { partition_by: ['year(a)'] }), 422, 'invalid_partition');
    assert.match(e.detail, /year\(a\)/);
    expectError(assert, await api.create('ok', { a: 'INTEGER' }, { partition_by: [7] }), 422, 'validation_error');
    assert.equal((await api.get('x1')).status, 404);
    assert.equal((await api.get('ok')).status, 404);
  });

  it('CSV appends in the dialects DuckDB sniffs: delimiters, quotes, CRLF, missing and reordered columns', async () => {
    assert.equal((await api.create('dialects', { id: 'INTEGER', name: 'VARCHAR', price: 'DOUBLE' })).status, 201);
    const bodies = [
      ['id;name;price\n1;"a;b";1.5\n2;"say ""hi""";\n', [[1, 'a;b', 1.5], [2, 'say "hi"', null]]],
      ['id\tname\tprice\r\n3\tc d\t3\r\n4\t\t4.25\r\n', [[3, 'c d', 3], [4, null, 4.25]]],
      ["id|name|price\n5|'e|f'|5\n", [[5, 'e|f', 5]]],
      ['price,id\n6.5,6\n', [[6, null, 6.5]]],
      ['name,id\n"",7\n,8\n', [[7, '', null], [8, null, null]]],
      ['id,name,price\n', []],
    ];
    for (const [body, rows] of bodies) {
      const r = await api.appendBody('dialects', body, 'text/csv');
      assert.equal(r.status, 200, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.json.rows, rows.length, JSON.stringify(body));
    }
    const got = await api.rows('dialects', 'SELECT id, name, price FROM dialects ORDER BY id');
    assert.deepEqual(
      got.map((x) => [x.id, x.name, x.price]),
      bodies.flatMap(([, rows]) => rows)
    );
    // a header name the table does not have, in any dialect: 422 naming it, nothing appended
    for (const body of ['id;nope\n1;2\n', 'id,"we ird"\n1,2\n']) {
      const e = expectError(assert, await api.appendBody('dialects', body, 'text/csv'), 422, 'unknown_column');
      assert.match(e.detail, /nope|we ird/);
    }
    assert.equal((await api.rows('dialects', 'SELECT count(*)::INTEGER AS c FROM dialects'))[0].c, 8);
    assert.equal((await api.drop('dialects')).status, 200);
  });

  it('PUT /tables/{name} appends JSON, NDJSON, CSV, Parquet and multipart uploads', async () => {
    const before = (await api.get('simple')).json.snapshot_id;
    const j = await api.appendRows('simple', [
      { id: 1, name: 'a', price: 1.5 },
      { id: 2, name: 'b', price: '2.25' },
    ]);
    assert.equal(j.status, 200, j.text);
    assert.equal(j.json.rows, 2);
    assert.equal(j.json.snapshot_id, before + 1);
    assert.equal(typeof j.json.message, 'string');
    const n = await api.appendBody('simple', '{"id":3,"name":"c","price":3}\n{"id":4,"name":null}\n', 'application/x-ndjson');
    assert.equal(n.status, 200, n.text);
    assert.equal(n.json.rows, 2);
    const c = await api.appendBody('simple', 'id,name,price\n5,"e, with comma",5.05\n6,,\n', 'text/csv');
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.rows, 2);
    // a Parquet file made by the server's own export
    const pq = await api.query('simple', 'SELECT id + 100 AS id, name, price FROM simple WHERE id <= 2', {
      accept: 'application/vnd.apache.parquet',
    });
    assert.equal(pq.status, 200, pq.text);
    assert.equal(pq.body.subarray(0, 4).toString(), 'PAR1');
    const p = await api.appendBody('simple', pq.body, 'application/vnd.apache.parquet');
    assert.equal(p.status, 200, p.text);
    assert.equal(p.json.rows, 2);
    // multipart as the seed's Python clients send it (requests files={'file': f})
    let mp = multipartBody([{ name: 'file', filename: 'more.csv', data: 'id,name,price\n7,g,7\n' }]);
    let m = await api.appendBody('simple', mp.body, mp.contentType);
    assert.equal(m.status, 200, m.text);
    assert.equal(m.json.rows, 1);
    mp = multipartBody([
      { name: 'comment', data: 'ignored field' },
      { name: 'file', filename: 'upload.parquet', contentType: 'application/octet-stream', data: pq.body },
    ]);
    m = await api.appendBody('simple', mp.body, mp.contentType);
    assert.equal(m.status, 200, m.text);
    assert.equal(m.json.rows, 2);
    mp = multipartBody([{ name: 'file', filename: 'rows.ndjson', contentType: 'application/x-ndjson', data: '{"id":8}\n' }]);
    m = await api.appendBody('simple', mp.body, mp.contentType);
    assert.equal(m.status, 200, m.text);

    const rows = await api.rows('simple', 'SELECT id, name, CAST(price AS VARCHAR) AS price FROM simple ORDER BY id, price');
    assert.deepEqual(rows, [
      { id: 1, name: 'a', price: '1.50' },
      { id: 2, name: 'b', price: '2.25' },
      { id: 3, name: 'c', price: '3.00' },
      { id: 4, name: null, price: null },
      { id: 5, name: 'e, with comma', price: '5.05' },
      { id: 6, name: null, price: null },
      { id: 7, name: 'g', price: '7.00' },
      { id: 8, name: null, price: null },
      { id: 101, name: 'a', price: '1.50' },
      { id: 101, name: 'a', price: '1.50' },
      { id: 102, name: 'b', price: '2.25' },
      { id: 102, name: 'b', price: '2.25' },
    ]);
    const list = await api.list('?details=true');
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.type, 'ducklake');
    const s = list.json.tables.find((t) => t.name === 'simple');
    assert.equal(s.row_count, 12);
    assert.equal(s.file_count, 7);
    assert.ok(s.bytes > 0);
    assert.equal(list.json.tables.find((t) => t.name === 'all_types').row_count, 0);
    const plain = await api.list();
    assert.deepEqual([...plain.json.tables].sort(), ['all_types', 'sales.events', 'simple']);
    const g = await api.get('simple');
    assert.equal(g.json.row_count, 12);
    assert.equal(g.json.file_count, 7);
    assert.equal(g.json.bytes, s.bytes);
    assert.equal(g.json.snapshot_id, m.json.snapshot_id);
  });

  it('PUT to a partitioned table writes one file per key value (NULL and escaped keys too) and reads back the rows', async () => {
    const r = await api.appendRows('sales.events', [
      { ts: '2024-01-01 00:00:00', kind: 'a', n: 1 },
      { ts: '2024-01-02 00:00:00', kind: 'b/c d', n: 2 },
      { ts: null, kind: null, n: 3 },
      { ts: '2024-01-04 00:00:00', kind: 'a', n: 4 },
    ]);
    assert.equal(r.status, 200, r.text);
    let g = await api.get('sales.events');
    assert.deepEqual([g.json.row_count, g.json.file_count], [4, 3], 'one file per kind, NULL included');
    const r2 = await api.appendRows('sales.events', [{ ts: '2024-02-01 00:00:00', kind: 'a', n: 5 }]);
    assert.equal(r2.status, 200, r2.text);
    g = await api.get('sales.events');
    assert.deepEqual([g.json.row_count, g.json.file_count], [5, 4]);
    const q = await api.query('sales.events', 'SELECT kind, n FROM "sales"."events" ORDER BY n', { accept: 'application/json' });
    assert.equal(q.status, 200, q.text);
    assert.deepEqual(q.json.result.map((x) => [x.kind, Number(x.n)]), [['a', 1], ['b/c d', 2], [null, 3], ['a', 4], ['a', 5]]);
    const f = await api.query('sales.events', `SELECT count(*) AS c FROM "sales"."events" WHERE kind = 'a'`, { accept: 'application/json' });
    assert.equal(Number(f.json.result[0].c), 3);
  });

  it('POST /tables takes year()/month() partition keys; appends write one file per transformed key', async () => {
    const c = await api.create('by_month', { ts: 'TIMESTAMP', n: 'BIGINT' }, { partition_by: ['year(ts)', 'month(ts)'] });
    assert.equal(c.status, 201, c.text);
    const g0 = await api.get('by_month');
    assert.match(JSON.stringify(g0.json.partitioning), /year/);
    assert.match(JSON.stringify(g0.json.partitioning), /month/);
    const r = await api.appendRows('by_month', [
      { ts: '2024-01-05 10:00:00', n: 1 },
      { ts: '2024-01-20 10:00:00', n: 2 },
      { ts: '2024-03-01 00:00:00', n: 3 },
      { ts: '2025-03-01 00:00:00', n: 4 },
      { ts: null, n: 5 },
    ]);
    assert.equal(r.status, 200, r.text);
    const g = await api.get('by_month');
    assert.deepEqual([g.json.row_count, g.json.file_count], [5, 4], '2024-01, 2024-03, 2025-03 and NULL');
    const q = await api.query('by_month', 'SELECT n FROM by_month WHERE month(ts) = 3 ORDER BY n', { accept: 'application/json' });
    assert.equal(q.status, 200, q.text);
    assert.deepEqual(q.json.result.map((x) => Number(x.n)), [3, 4]);
  });

  it('PUT answers 415 for an unknown Content-Type and 422 for a row that does not fit, committing nothing', async () => {
    const snapsBefore = (await api.snapshots()).json.snapshots.length;
    const rowsBefore = await api.rows('simple', 'SELECT count(*) AS n FROM simple');
    let e = expectError(assert, await api.appendBody('simple', '<rows/>', 'application/xml'), 415, 'unsupported_media_type');
    assert.match(e.detail, /text\/csv/);
    const mp = multipartBody([{ name: 'file', filename: 'x.xlsx', contentType: 'application/vnd.ms-excel', data: 'zz' }]);
    expectError(assert, await api.appendBody('simple', mp.body, mp.contentType), 415, 'unsupported_media_type');
    e = expectError(assert, await api.appendBody('simple', 'id,name,price\n1,a,1\n2,b,abc\n', 'text/csv'), 422, 'invalid_row');
    assert.match(e.detail, /row 2/);
    assert.match(e.detail, /price/);
    e = expectError(assert, await api.appendRows('simple', [{ id: 1 }, { id: 2 }, { id: 'x' }]), 422, 'invalid_row');
    assert.match(e.detail, /row 3/);
    assert.match(e.detail, /'id'/);
    e = expectError(assert, await api.appendRows('simple', [{ id: 1 }, { id: 2, nope: 1 }]), 422, 'unknown_column');
    assert.match(e.detail, /nope/);
    e = expectError(assert, await api.appendRows('simple', [{ id: 1, price: '123456789012.5' }]), 422, 'invalid_row');
    assert.match(e.detail, /price/);
    e = expectError(assert, await api.appendRows('all_types', [{ id: 1 }, { b: true }]), 422, 'invalid_row');
    assert.match(e.detail, /row 2/);
    assert.match(e.detail, /'id'/, 'NULL in a NOT NULL column');
    expectError(assert, await api.appendRows('nosuch', [{ id: 1 }]), 404, 'table_not_found');
    assert.equal((await api.snapshots()).json.snapshots.length, snapsBefore, 'no snapshot committed');
    assert.deepEqual(await api.rows('simple', 'SELECT count(*) AS n FROM simple'), rowsBefore);
  });

  it('POST /tables/{name}/query answers JSON, NDJSON, CSV and Parquet, streams on request, 406 otherwise', async () => {
    const q = 'SELECT id, name FROM simple WHERE id <= 3 ORDER BY id';
    let r = await api.query('simple', q, { accept: 'application/json' });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers['content-type'], /^application\/json/);
    assert.deepEqual(r.json, { result: [{ id: 1, name: 'a' }, { id: 2, name: 'b' }, { id: 3, name: 'c' }] });
    assert.equal(r.headers['x-result-rows'], '3');
    r = await api.query('simple', q, { accept: 'application/x-ndjson' });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^application\/x-ndjson/);
    assert.deepEqual(r.text.trim().split('\n').map((l) => JSON.parse(l)), [
      { id: 1, name: 'a' },
      { id: 2, name: 'b' },
      { id: 3, name: 'c' },
    ]);
    r = await api.query('simple', q, { accept: 'text/csv' });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/csv/);
    assert.equal(r.text, 'id,name\n1,a\n2,b\n3,c\n');
    for (const accept of ['application/parquet', 'application/vnd.apache.parquet', 'application/octet-stream']) {
      r = await api.query('simple', q, { accept });
      assert.equal(r.status, 200, `${accept}: ${r.text.slice(0, 200)}`);
      assert.equal(r.body.subarray(0, 4).toString(), 'PAR1', accept);
      assert.equal(r.body.subarray(-4).toString(), 'PAR1', accept);
    }
    // the Parquet answer holds the same rows: load it back into a fresh table
    assert.equal((await api.create('from_pq', { id: 'INTEGER', name: 'VARCHAR' })).status, 201);
    assert.equal((await api.appendBody('from_pq', r.body, 'application/vnd.apache.parquet')).status, 200);
    assert.deepEqual(await api.rows('from_pq', 'SELECT * FROM from_pq ORDER BY id'), [
      { id: 1, name: 'a' },
      { id: 2, name: 'b' },
      { id: 3, name: 'c' },
    ]);
    // the query may name any table of the lake
    r = await api.query('simple', 'SELECT count(*) AS n FROM from_pq JOIN simple USING (id)');
    assert.deepEqual(r.json, { result: [{ n: 3 }] });
    // stream: true answers chunked
    r = await api.query('simple', 'SELECT * FROM range(100000) t(i)', { accept: 'application/x-ndjson', stream: true });
    assert.equal(r.status, 200);
    assert.equal(r.headers['transfer-encoding'], 'chunked');
    const lines = r.text.trim().split('\n');
    assert.equal(lines.length, 100000);
    assert.deepEqual(JSON.parse(lines[99999]), { i: 99999 });
    r = await api.query('simple', q, { stream: false });
    assert.equal(r.headers['content-length'], String(r.body.length));
    const e = expectError(assert, await api.query('simple', q, { accept: 'application/xml' }), 406, 'not_acceptable');
    for (const t of ['application/json', 'application/x-ndjson', 'text/csv', 'application/vnd.apache.parquet'])
      assert.ok(e.detail.includes(t), `406 lists ${t}: ${e.detail}`);
    expectError(assert, await fetchJson(ctx.server.url('/tables/simple/query'), { method: 'POST', json: { sql: 'x' } }), 422, 'validation_error');
    expectError(assert, await api.query('nosuch', 'SELECT 1'), 404, 'table_not_found');
  });

  it('time travel: ?snapshot= and ?as_of= on GET and query; snapshot listings', async () => {
    await api.create('tt', { v: 'INTEGER' });
    const s1 = (await api.appendRows('tt', [{ v: 1 }])).json.snapshot_id;
    const s2 = (await api.appendRows('tt', [{ v: 2 }, { v: 3 }])).json.snapshot_id;
    assert.equal(s2, s1 + 1);
    assert.deepEqual(await api.rows('tt', 'SELECT v FROM tt ORDER BY v', `?snapshot=${s1}`), [{ v: 1 }]);
    assert.deepEqual(await api.rows('tt', 'SELECT v FROM tt ORDER BY v', `?snapshot=${s2}`), [{ v: 1 }, { v: 2 }, { v: 3 }]);
    assert.equal((await api.get('tt', `?snapshot=${s1}`)).json.row_count, 1);
    assert.equal((await api.get('tt', `?snapshot=${s1}`)).json.snapshot_id, s1);
    assert.equal((await api.list(`?snapshot=${s1}&details=true`)).json.tables.find((t) => t.name === 'tt').row_count, 1);
    expectError(assert, await api.get('tt', `?snapshot=${s1 - 2}`), 404, 'table_not_found');
    expectError(assert, await api.get('tt', '?snapshot=99999'), 404, 'snapshot_not_found');
    assert.equal((await api.get('tt', '?snapshot=abc')).status, 422);
    assert.equal((await api.get('tt', `?snapshot=${s1}&as_of=2020-01-01`)).status, 422);
    expectError(assert, await api.get('tt', '?as_of=2000-01-01T00:00:00Z'), 404, 'snapshot_not_found');
    const snaps = await api.snapshots('tt');
    assert.equal(snaps.status, 200, snaps.text);
    const list = snaps.json.snapshots;
    assert.deepEqual(list.map((s) => s.snapshot_id), [s1 - 1, s1, s2]);
    assert.deepEqual(list[0].changes.tables_created, ['main.tt']);
    assert.deepEqual(list[1].changes.tables_inserted_into, [list[0].snapshot_id > 0 ? (await api.get('tt')).json.table_id : 0]);
    for (const s of list) assert.match(s.snapshot_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    // as_of: the snapshot time of s1 picks s1
    const t1 = list[1].snapshot_time;
    assert.deepEqual(await api.rows('tt', 'SELECT v FROM tt', `?as_of=${encodeURIComponent(t1)}`), [{ v: 1 }]);
    assert.equal((await api.get('tt', `?as_of=${encodeURIComponent(t1)}`)).json.snapshot_id, s1);
    assert.equal((await api.get('tt', '?as_of=2999-01-01')).json.snapshot_id, s2);
    const all = await api.snapshots();
    assert.equal(all.status, 200);
    const ids = all.json.snapshots.map((s) => s.snapshot_id);
    assert.deepEqual(ids, [...Array(ids.length).keys()], 'GET /snapshots: dense ids from 0');
    assert.deepEqual(all.json.snapshots[0].changes, { schemas_created: ['main'] });
  });

  it('DELETE /tables/{name} drops the table; time travel still reads it', async () => {
    const before = (await api.get('tt')).json.snapshot_id;
    const d = await api.drop('tt');
    assert.equal(d.status, 200, d.text);
    assert.equal(d.json.snapshot_id, before + 1);
    expectError(assert, await api.get('tt'), 404, 'table_not_found');
    expectError(assert, await api.drop('tt'), 404, 'table_not_found');
    expectError(assert, await api.query('tt', 'SELECT 1'), 404, 'table_not_found');
    assert.ok(!(await api.list()).json.tables.includes('tt'));
    assert.deepEqual(await api.rows('tt', 'SELECT v FROM tt ORDER BY v', `?snapshot=${before}`), [{ v: 1 }, { v: 2 }, { v: 3 }]);
    const snaps = (await api.snapshots('tt')).json.snapshots;
    assert.deepEqual(snaps[snaps.length - 1].changes.tables_dropped, [(await api.get('tt', `?snapshot=${before}`)).json.table_id]);
    // the name can be used again
    assert.equal((await api.create('tt', { w: 'VARCHAR' })).status, 201);
    assert.deepEqual((await api.get('tt')).json.schema, { w: 'VARCHAR' });
  });

  stopsCleanly(ctx);
});

describe(`tables: every type round-trips exactly (${WHERE})`, () => {
  const ctx = useLakeServer();

  it('JSON append and JSON query answer hold the same values (NULLs, unicode, extremes, nesting, 1 MB)', async () => {
    const api = lakeApi(ctx.server);
    assert.equal((await api.create('rt', ALL_TYPES)).status, 201);
    const a = await api.appendRowsRaw('rt', IN);
    assert.equal(a.status, 200, a.text);
    assert.equal(a.json.rows, IN.length);
    const r = await api.query('rt', 'SELECT * FROM rt ORDER BY id');
    assert.equal(r.status, 200, r.text.slice(0, 500));
    diffRows(parseLossless(r.text).result, EXPECTED);
    // the same through NDJSON
    const n = await api.query('rt', 'SELECT * FROM rt ORDER BY id', { accept: 'application/x-ndjson' });
    diffRows(n.text.trim().split('\n').map(parseLossless), EXPECTED);
  });

  it('NaN, infinities and -0.0 survive (CSV answer, where JSON has no form for them)', async () => {
    const api = lakeApi(ctx.server);
    const r = await api.query('rt', 'SELECT id, f, d FROM rt WHERE id >= 3 ORDER BY id', { accept: 'text/csv' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, 'id,f,d\n3,0.1,0.30000000000000004\n4,nan,inf\n5,-inf,nan\n6,,\n7,1.4013e-45,4.94065645841247e-324\n');
    const s = await api.rows('rt', "SELECT count(*) FILTER (WHERE isnan(f)) AS fn, count(*) FILTER (WHERE d = 'inf'::DOUBLE) AS di FROM rt");
    assert.deepEqual(s, [{ fn: 1, di: 1 }]);
    await api.appendRows('rt', [{ id: 8, f: '-0.0', d: '-0.0' }]);
    const z = await api.query('rt', 'SELECT f, d, signbit(d) AS sd FROM rt WHERE id = 8', { accept: 'text/csv' });
    assert.equal(z.text, 'f,d,sd\n-0,-0,true\n');
  });

  it('CSV, NDJSON and Parquet appends read back the same values as the JSON append', async () => {
    const api = lakeApi(ctx.server);
    const cols = Object.keys(ALL_TYPES);
    // Parquet: the server's own export of the table, appended to a copy
    const pq = await api.query('rt', 'SELECT * FROM rt WHERE id <= 7 ORDER BY id', { accept: 'application/vnd.apache.parquet' });
    assert.equal(pq.status, 200);
    assert.equal((await api.create('rt_pq', ALL_TYPES)).status, 201);
    const ap = await api.appendBody('rt_pq', pq.body, 'application/vnd.apache.parquet');
    assert.equal(ap.status, 200, ap.text);
    diffRows(parseLossless((await api.query('rt_pq', 'SELECT * FROM rt_pq ORDER BY id')).text).result, EXPECTED);
    // NDJSON: the server's NDJSON answer appended as is
    const nd = await api.query('rt', 'SELECT * EXCLUDE (bl, mi) FROM rt WHERE id <= 7 ORDER BY id', {
      accept: 'application/x-ndjson',
    });
    assert.equal((await api.create('rt_nd', ALL_TYPES)).status, 201);
    const an = await api.appendBody('rt_nd', nd.body, 'application/x-ndjson');
    assert.equal(an.status, 200, an.text);
    const gotNd = parseLossless((await api.query('rt_nd', 'SELECT * FROM rt_nd ORDER BY id')).text).result;
    // Not symmetric (documented in docs/decisions/0014-tables.md): BLOB is answered as base64 but
    // read as DuckDB's escaped text; a MAP with non-text keys is answered as [{key, value}] but
    // read as a JSON object. Those two columns are left out of the NDJSON append.
    const skip = ['bl', 'mi'];
    for (const row of gotNd) for (const k of skip) delete row[k];
    diffRows(gotNd, EXPECTED.map((row) => Object.fromEntries(Object.entries(row).filter(([k]) => !skip.includes(k)))));
    // CSV: the server's CSV answer of the scalar columns (nested types have no CSV form to parse back)
    const scalar = cols.filter((c) => !['l', 'st', 'm', 'mi', 'ls', 'j', 'bl'].includes(c));
    const csv = await api.query('rt', `SELECT ${scalar.join(', ')} FROM rt WHERE id <= 7 ORDER BY id`, { accept: 'text/csv' });
    const schema = Object.fromEntries(scalar.map((c) => [c, ALL_TYPES[c]]));
    assert.equal((await api.create('rt_csv', schema)).status, 201);
    const ac = await api.appendBody('rt_csv', csv.body, 'text/csv');
    assert.equal(ac.status, 200, ac.text);
    const gotCsv = parseLossless((await api.query('rt_csv', 'SELECT * FROM rt_csv ORDER BY id')).text).result;
    diffRows(gotCsv, EXPECTED.map((row) => Object.fromEntries(scalar.map((c) => [c, row[c]]))));
  });

  it('the Parquet answer keeps every column type, and the query order over many row groups', {
    skip: !duckdbRef() && 'needs the reference DuckDB (DLB_DUCKDB_REF)',
  }, async () => {
    const api = lakeApi(ctx.server);
    const dir = makeTmpDir('dlb-e2e-pq-');
    const pq = await api.query('rt', 'SELECT * FROM rt ORDER BY id', { accept: 'application/vnd.apache.parquet' });
    assert.equal(pq.status, 200, pq.text);
    const file = path.join(dir, 'rt.parquet');
    fs.writeFileSync(file, pq.body);
    const types = duckRef(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(${lit(file)}))`);
    // DuckDB writes TIMESTAMP_S and TIMESTAMP_MS as Parquet timestamps that it reads back as TIMESTAMP
    assert.deepEqual(Object.fromEntries(types.map((r) => [r.column_name, r.column_type])), {
      ...CANONICAL,
      tss: 'TIMESTAMP',
      tsm: 'TIMESTAMP',
    });
    // 1 M rows sorted descending: 9 row groups, encoded by several threads, must stay in order
    const big = await api.query('rt', "SELECT range AS i, repeat('x', 200) || range AS s FROM range(1000000) ORDER BY i DESC", {
      accept: 'application/vnd.apache.parquet',
      stream: true,
    });
    assert.equal(big.status, 200, big.text.slice(0, 300));
    const bigFile = path.join(dir, 'desc.parquet');
    fs.writeFileSync(bigFile, big.body);
    const [c] = duckRef(
      `SELECT count(*) AS n, count(*) FILTER (WHERE i <> 999999 - file_row_number OR s <> repeat('x', 200) || i) AS bad, ` +
        `(SELECT count(DISTINCT row_group_id) FROM parquet_metadata(${lit(bigFile)})) AS groups ` +
        `FROM read_parquet(${lit(bigFile)}, file_row_number = true)`,
    );
    assert.equal(Number(c.n), 1000000);
    assert.equal(Number(c.bad), 0, 'rows out of order');
    assert.ok(Number(c.groups) >= 8, `${c.groups} row groups`);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a negative INTERVAL (Parquet cannot hold it) is a 422, not a wrong value', async () => {
    const api = lakeApi(ctx.server);
    await api.create('ivs', { iv: 'INTERVAL' });
    const r = await api.appendRows('ivs', [{ iv: '1 day' }, { iv: '-2 hours' }]);
    assert.equal(r.status, 422, r.text);
    assert.match(r.json.detail, /iv/);
  });

  stopsCleanly(ctx);
});

describe(`tables: injection and file access are refused, the lake is unchanged (${WHERE})`, () => {
  const ctx = useLakeServer();

  it('table, column and query injection attempts are refused with 403/422 and change nothing', async () => {
    const api = lakeApi(ctx.server);
    assert.equal((await api.create('t', { a: 'INTEGER', s: 'VARCHAR' })).status, 201);
    assert.equal((await api.create('x', { a: 'INTEGER' })).status, 201);
    await api.appendRows('t', [{ a: 1, s: "'; DROP TABLE x; --" }, { a: 2, s: 'Robert"); DROP TABLE t;--' }]);
    await api.appendRows('x', [{ a: 42 }]);
    const before = await lakeState(api, ['t', 'x']);

    for (const name of ['t; DROP TABLE x', 't"--', "t'--", 't x', '../t', 'main.t; DROP TABLE x', 'x"; DELETE FROM x; --']) {
      const c = await api.create(name, { a: 'INTEGER' });
      assert.equal(c.status, 422, `create ${name}: ${c.text}`);
      assert.ok(c.json.detail.includes(name.split('.').pop()) || c.json.detail.includes(name), `names it: ${c.json.detail}`);
      for (const res of [
        await api.get(name),
        await api.appendRows(name, [{ a: 1 }]),
        await api.drop(name),
        await fetchJson(ctx.server.url(`/tables/${encodeURIComponent(name)}/query`), { method: 'POST', json: { query: 'SELECT 1' } }),
        await api.snapshots(name),
      ])
        assert.ok([404, 422].includes(res.status), `${name}: ${res.status} ${res.text}`);
    }
    for (const col of ['a"; DROP TABLE x; --', 'a b', "a'", 'a)', '']) {
      const c = await api.create('y', { [col]: 'INTEGER' });
      assert.equal(c.status, 422, `column ${col}: ${c.text}`);
    }
    for (const ty of ['INTEGER); DROP TABLE x; --', "VARCHAR DEFAULT 'x'", 'INTEGER, b INTEGER', 'STRUCT(a INTEGER); DROP TABLE x']) {
      expectError(assert, await api.create('y', { a: ty }), 422, 'invalid_type');
    }
    // column names in appended data are matched against the table, never pasted into SQL
    for (const rows of [[{ 'a"); DROP TABLE x; --': 1 }], [{ "a' OR 1=1": 1 }]]) {
      const r = await api.appendRows('t', rows);
      assert.equal(r.status, 422, r.text);
    }
    const csv = await api.appendBody('t', 'a,"s""); DROP TABLE x; --"\n1,2\n', 'text/csv');
    assert.equal(csv.status, 422, csv.text);

    const refused = [
      'SELECT 1; DROP TABLE t',
      'SELECT 1; SELECT 2',
      "COPY t TO '/tmp/x.csv'",
      "COPY (SELECT 1) TO '/tmp/x.csv'",
      "ATTACH '/tmp/evil.db' AS evil",
      'DETACH x',
      'INSTALL httpfs',
      'LOAD httpfs',
      "SET enable_external_access = true",
      'RESET enable_external_access',
      'PRAGMA database_list',
      'CREATE TABLE z (a INTEGER)',
      'CREATE VIEW v AS SELECT 1',
      'CREATE MACRO m() AS 1',
      'INSERT INTO t VALUES (9, $$x$$)',
      'UPDATE t SET a = 0',
      'DELETE FROM t',
      'DROP TABLE x',
      'ALTER TABLE t ADD COLUMN z INTEGER',
      "EXPORT DATABASE '/tmp/exp'",
      'CALL pragma_version()',
      'CHECKPOINT',
      'VACUUM',
      'BEGIN TRANSACTION',
      "SELECT * FROM read_csv('/etc/passwd')",
      "SELECT * FROM read_csv_auto('/etc/passwd')",
      "SELECT * FROM read_text('/etc/passwd')",
      "SELECT * FROM read_blob('/etc/passwd')",
      "SELECT * FROM glob('/etc/*')",
      "SELECT * FROM read_json('/etc/passwd')",
      "SELECT * FROM read_parquet('/etc/passwd')",
      "SELECT * FROM '/etc/passwd'",
      "SELECT * FROM read_csv('file:///etc/passwd')",
      "SELECT * FROM sqlite_scan('/etc/passwd', 'x')",
      "SELECT * FROM read_csv('https://example.com/x.csv')",
      "WITH q AS (SELECT * FROM read_text('/etc/passwd')) SELECT * FROM q",
      "SELECT (SELECT content FROM read_text('/etc/passwd'))",
      "SELECT * FROM t UNION ALL SELECT 1, content FROM read_text('/etc/passwd')",
    ];
    for (const q of refused) {
      const r = await api.query('t', q);
      assert.ok([400, 403, 422].includes(r.status), `refused: ${q} -> ${r.status} ${r.text.slice(0, 300)}`);
      assert.ok(r.json && typeof r.json.error === 'string', `JSON error for ${q}`);
      assert.ok(!/root:x:0:0/.test(r.text), `no /etc/passwd content for ${q}`);
    }
    // the statement classes named by the issue answer 403 with a message
    for (const q of ['SELECT 1; DROP TABLE t', "COPY t TO '/tmp/x'", "ATTACH ':memory:' AS m", 'INSTALL httpfs', 'SET threads = 1', 'PRAGMA version', 'CREATE TABLE z (a INTEGER)', 'INSERT INTO t VALUES (1, 1)']) {
      const r = await api.query('t', q);
      assert.equal(r.status, 403, `${q}: ${r.text}`);
      assert.ok(r.json.detail.length > 0);
    }
    for (const q of ["SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM read_text('/etc/passwd')", "SELECT * FROM glob('/etc/*')"]) {
      const r = await api.query('t', q);
      assert.equal(r.status, 403, `${q}: ${r.text}`);
    }
    // the lake is as it was
    assert.deepEqual(await lakeState(api, ['t', 'x']), before);
    assert.deepEqual(before.rows.x, [{ a: 42 }]);
    // and the server still answers queries normally
    assert.deepEqual(await api.rows('t', 'SELECT count(*) AS n FROM t'), [{ n: 2 }]);
  });

  it('a query that breaks DuckDB (an INTERNAL error invalidates its database) fails alone; the next query runs', async () => {
    const api = lakeApi(ctx.server);
    // DuckDB 1.5 fails with an INTERNAL error, which invalidates the whole database, when a
    // Parquet file without rows and without any mapped field id is filtered on file_row_number.
    const zero = await api.query('t', 'SELECT 1::BIGINT AS x WHERE false', { accept: 'application/vnd.apache.parquet' });
    assert.equal(zero.status, 200, zero.text);
    const cache = path.join(ctx.server.env.DATA_DIR, 'cache');
    fs.mkdirSync(cache, { recursive: true });
    const f = path.join(fs.realpathSync(cache), 'zero-rows.parquet');
    fs.writeFileSync(f, zero.body);
    const breaker = `SELECT count(*) FROM read_parquet(['${f}', '${f}'], schema = MAP {999: {name: 'p', type: 'INTEGER', default_value: NULL}}, file_row_number = true) WHERE file_row_number < 10`;
    for (let round = 0; round < 2; round++) {
      const b = await api.query('t', breaker);
      assert.equal(b.status, 500, b.text);
      assert.equal(b.json.error, 'query_internal_error');
      assert.doesNotMatch(b.json.detail, /Stack Trace|libduckdb/, 'no stack trace in the answer');
      // the query database was reopened: the lake is queryable again at once
      assert.deepEqual(await api.rows('t', 'SELECT count(*)::INTEGER AS n FROM t'), [{ n: 2 }]);
    }
    fs.rmSync(f);
  });

  it('a JSON query answer cannot be redirected by a hostile Accept or parameters', async () => {
    const api = lakeApi(ctx.server);
    const r = await request(ctx.server.url("/tables/t/query?snapshot=1;DROP"), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'SELECT 1' }),
    });
    assert.equal(r.status, 422, r.text);
    assert.deepEqual(await api.rows('t', 'SELECT count(*) AS n FROM t'), [{ n: 2 }]);
  });

  stopsCleanly(ctx);
});
