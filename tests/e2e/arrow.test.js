// Arrow IPC in and out (issue 7), checked against apache-arrow, an independent implementation:
// query answers in application/vnd.apache.arrow.stream decode to the same values as the JSON
// answer of the same query, every type, NULLs and nesting; tables encoded by apache-arrow (stream
// and file, dictionaries, NULLs) append through PUT /tables/{name} and read back exactly;
// malformed Arrow bodies give 400 and append nothing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as A from 'apache-arrow';
import { BACKEND, expectError, stopsCleanly, useServer } from './lib/server.js';
import { Num, lakeApi, parseLossless, raw } from './lib/lake.js';

const ARROW = 'application/vnd.apache.arrow.stream';
const ARROW_FILE = 'application/vnd.apache.arrow.file';

const TYPES = {
  id: 'INTEGER NOT NULL', b: 'BOOLEAN', ti: 'TINYINT', si: 'SMALLINT', ii: 'INTEGER', bi: 'BIGINT',
  ut: 'UTINYINT', us: 'USMALLINT', ui: 'UINTEGER', ub: 'UBIGINT', f: 'FLOAT', d: 'DOUBLE',
  dc: 'DECIMAL(38,10)', d4: 'DECIMAL(4,1)', v: 'VARCHAR', bl: 'BLOB', dt: 'DATE', tm: 'TIME',
  ts: 'TIMESTAMP', tss: 'TIMESTAMP_S', tsm: 'TIMESTAMP_MS', tsn: 'TIMESTAMP_NS', tz: 'TIMESTAMPTZ',
  iv: 'INTERVAL', u: 'UUID', j: 'JSON', l: 'VARCHAR[]', st: 'STRUCT(a INTEGER, b VARCHAR)',
  m: 'MAP(VARCHAR, INTEGER)', mi: 'MAP(INTEGER, VARCHAR)', ls: 'STRUCT(k VARCHAR, v DOUBLE[])[]',
};

const ROWS = [
  {
    id: 1, b: true, ti: -128, si: -32768, ii: -2147483648, bi: raw('-9223372036854775808'), ut: 0, us: 0, ui: 0,
    ub: 0, f: -3.4028235e38, d: -1.7976931348623157e308, dc: '-9999999999999999999999999999.9999999999',
    d4: '-999.9', v: '', bl: '', dt: '0001-01-01', tm: '00:00:00', ts: '0001-01-01 00:00:00',
    tss: '1677-09-22 00:00:00', tsm: '0001-01-01 00:00:00.001', tsn: '1677-09-22 00:12:43.145224192',
    tz: '0001-01-01T00:00:00Z', iv: '0 seconds', u: '00000000-0000-0000-0000-000000000000', j: {}, l: [],
    st: { a: null, b: null }, m: {}, mi: { 1: 'x' }, ls: [],
  },
  {
    id: 2, b: false, ti: 127, si: 32767, ii: 2147483647, bi: raw('9223372036854775807'), ut: 255, us: 65535,
    ui: 4294967295, ub: raw('18446744073709551615'), f: 3.4028235e38, d: 1.7976931348623157e308,
    dc: raw('9999999999999999999999999999.9999999999'), d4: '999.9', v: '日本語 ünïcödé 😀 "q" \\ \n\t',
    bl: '\\x00\\x01\\xFE\\xFF', dt: '9999-12-31', tm: '23:59:59.999999', ts: '9999-12-31 23:59:59.999999',
    tss: '2262-04-11 23:47:16', tsm: '9999-12-31 23:59:59.999', tsn: '2262-04-11 23:47:16.854775806',
    tz: '9999-12-31T23:59:59.999999Z', iv: '1 year 2 months 3 days 04:05:06.789',
    u: 'ffffffff-ffff-ffff-ffff-ffffffffffff', j: { a: [1, 2.5, 'x', null, true], b: { c: 'é' } },
    l: ['a', null, '', '😀'], st: { a: 7, b: 'x' }, m: { k: 1, n: null }, mi: {},
    ls: [{ k: 'a', v: [1.5, null] }, { k: null, v: [] }, null],
  },
  {
    id: 3, f: 0.1, d: 0.30000000000000004, dc: '0.0000000001', d4: '0', tz: '2024-02-29T12:34:56.123456+05:30',
    tsn: '2024-02-29 12:34:56.123456789', ts: '2024-02-29 12:34:56.123456', tsm: '2024-02-29 12:34:56.123',
    bl: 'hello', dt: '1970-01-01', tm: '12:00:00.000001', v: 'x'.repeat(100000),
    u: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
  },
  { id: 4, f: 'NaN', d: 'Infinity' },
  { id: 5 },
];

/* ---- apache-arrow values in the JSON answer's text forms ---------------------------------- */

function locate(vec, i) {
  for (const c of vec.data) {
    if (i < c.length) return [c, i];
    i -= c.length;
  }
  throw new Error('row out of range');
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** DuckDB's date text of a day number (astronomical years, '+' past 9999). */
function dateText(days) {
  const d = new Date(Number(days) * 86400000);
  const y = d.getUTCFullYear();
  const ys = y < 0 ? '-' + pad(-y, 4) : y > 9999 ? '+' + y : pad(y, 4);
  return `${ys}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

function frac(sub, digits) {
  if (sub === 0n) return '';
  return '.' + sub.toString().padStart(digits, '0').replace(/0+$/, '');
}

function timeText(micros) {
  const s = micros / 1000000n;
  return `${pad(s / 3600n)}:${pad((s / 60n) % 60n)}:${pad(s % 60n)}${frac(micros % 1000000n, 6)}`;
}

/** value in unit (0 s, 3 ms, 6 us, 9 ns) -> 2024-01-31T12:00:00.123 */
function tsText(v, digits) {
  const per = 10n ** BigInt(digits);
  let secs = v / per;
  let sub = v % per;
  if (sub < 0n) {
    sub += per;
    secs -= 1n;
  }
  const days = secs >= 0n ? secs / 86400n : -((-secs + 86399n) / 86400n);
  const rem = secs - days * 86400n;
  return `${dateText(days)}T${timeText(rem * 1000000n).slice(0, 8)}${frac(sub, digits)}`;
}

function intervalText([months, days, lo, hi]) {
  let nanos = (BigInt(hi) << 32n) | BigInt(lo >>> 0);
  let out = 'P';
  const y = Math.trunc(months / 12);
  const mo = months % 12;
  if (y) out += `${y}Y`;
  if (mo) out += `${mo}M`;
  if (days) out += `${days}D`;
  if (nanos) {
    const h = nanos / 3600000000000n;
    nanos %= 3600000000000n;
    const mi = nanos / 60000000000n;
    nanos %= 60000000000n;
    out += 'T';
    if (h) out += `${h}H`;
    if (mi) out += `${mi}M`;
    if (nanos) out += `${nanos / 1000000000n}${frac(nanos % 1000000000n, 9)}S`;
  }
  return out === 'P' ? 'PT0S' : out;
}

function uuidText(b) {
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function decimalText(unscaled, scale) {
  let s = unscaled.toString();
  const neg = s.startsWith('-');
  if (neg) s = s.slice(1);
  if (scale > 0) {
    s = s.padStart(scale + 1, '0');
    s = `${s.slice(0, -scale)}.${s.slice(-scale)}`;
  }
  return (neg ? '-' : '') + s;
}

/** Compares an apache-arrow value (vector vec, row i) with the JSON answer's value. */
function check(field, vec, i, want, where) {
  const t = field.type;
  const got = vec.get(i);
  if (want === null || want === undefined) {
    const floatSpecial = A.DataType.isFloat(t) && got !== null && !Number.isFinite(got);
    if (!floatSpecial) assert.equal(got, null, `${where}: expected null`);
    return;
  }
  assert.notEqual(got, null, `${where}: unexpected null`);
  const [c, j] = locate(vec, i);
  const unitDigits = [0, 3, 6, 9];
  if (A.DataType.isInt(t)) {
    assert.equal(String(got), want.text, where);
  } else if (A.DataType.isFloat(t)) {
    const w = Number(want.text);
    assert.equal(t.precision === A.Precision.SINGLE ? Math.fround(got) : got, t.precision === A.Precision.SINGLE ? Math.fround(w) : w, where);
  } else if (A.DataType.isDecimal(t)) {
    assert.equal(decimalText(BigInt(String(got)), t.scale), want.text, where);
  } else if (A.DataType.isUtf8(t)) {
    if (field.name === 'j') assert.deepEqual(parseLossless(got), want, where);
    else assert.equal(got, want, where);
  } else if (A.DataType.isBinary(t)) {
    assert.equal(Buffer.from(got).toString('base64'), want, where);
  } else if (A.DataType.isFixedSizeBinary(t)) {
    assert.equal(field.metadata.get('ARROW:extension:name'), 'arrow.uuid', `${where}: extension name`);
    assert.equal(uuidText(got), want, where);
  } else if (A.DataType.isDate(t)) {
    assert.equal(dateText(c.values[c.offset + j]), want, where);
  } else if (A.DataType.isTime(t)) {
    assert.equal(t.unit, A.TimeUnit.MICROSECOND);
    assert.equal(timeText(BigInt(c.values[c.offset + j])), want, where);
  } else if (A.DataType.isTimestamp(t)) {
    const text = tsText(BigInt(c.values[c.offset + j]), unitDigits[t.unit]);
    assert.equal(t.timezone ? `${text}+00:00` : text, want, where);
  } else if (A.DataType.isInterval(t)) {
    assert.equal(intervalText(Array.from(c.values.subarray((c.offset + j) * 4, (c.offset + j) * 4 + 4))), want, where);
  } else if (A.DataType.isList(t)) {
    const child = c.children[0];
    const off = c.valueOffsets;
    const start = off[c.offset + j];
    assert.equal(off[c.offset + j + 1] - start, want.length, `${where}: list length`);
    const cv = A.makeVector(child);
    for (let k = 0; k < want.length; k++) check(t.children[0], cv, start + k, want[k], `${where}[${k}]`);
  } else if (A.DataType.isStruct(t)) {
    t.children.forEach((f, k) => check(f, A.makeVector(c.children[k]), c.offset + j, want[f.name], `${where}.${f.name}`));
  } else if (A.DataType.isMap(t)) {
    const entries = c.children[0];
    const off = c.valueOffsets;
    const start = off[c.offset + j];
    const n = off[c.offset + j + 1] - start;
    const keys = A.makeVector(entries.children[0]);
    const vals = A.makeVector(entries.children[1]);
    const [kf, vf] = t.children[0].type.children;
    const wantPairs = Array.isArray(want) ? want.map((p) => [p.key, p.value]) : Object.entries(want);
    assert.equal(n, wantPairs.length, `${where}: map size`);
    for (let k = 0; k < n; k++) {
      const gk = keys.get(start + k);
      if (A.DataType.isUtf8(kf.type)) assert.equal(gk, wantPairs[k][0], `${where}: key ${k}`);
      else check(kf, keys, start + k, wantPairs[k][0], `${where}: key ${k}`);
      check(vf, vals, start + k, wantPairs[k][1], `${where}[${gk}]`);
    }
  } else if (A.DataType.isBool(t)) {
    assert.equal(got, want, where);
  } else {
    assert.fail(`${where}: unexpected type ${t}`);
  }
}

function compareAnswers(table, json, cols) {
  assert.equal(table.numRows, json.length, 'row count');
  assert.deepEqual(table.schema.fields.map((f) => f.name), cols, 'column names');
  for (const f of table.schema.fields) {
    const vec = table.getChild(f.name);
    for (let r = 0; r < json.length; r++) check(f, vec, r, json[r][f.name], `row ${r + 1}, column ${f.name}`);
  }
}

describe(`arrow: IPC out and in (${BACKEND})`, () => {
  const ctx = useServer();
  let api;

  it('answers a query in Arrow with every type, value for value with the JSON answer', async () => {
    api = lakeApi(ctx.server);
    assert.equal((await api.create('arrow_all', TYPES)).status, 201);
    const a = await api.appendRowsRaw('arrow_all', ROWS);
    assert.equal(a.status, 200, a.text);
    // every type (chunk by chunk through DuckDB's converter), then the flat columns alone
    // (straight from the vectors, src/engine/encode_arrow.c)
    const flat = Object.keys(TYPES).filter((c) => !['iv', 'u', 'l', 'st', 'm', 'mi', 'ls'].includes(c));
    for (const cols of [Object.keys(TYPES), flat]) {
      const q = `SELECT ${cols.join(', ')} FROM arrow_all ORDER BY id`;
      const js = await api.query('arrow_all', q);
      assert.equal(js.status, 200, js.text);
      const json = parseLossless(js.text).result;
      for (const stream of [false, true]) {
        const r = await api.query('arrow_all', q, { accept: ARROW, stream });
        assert.equal(r.status, 200, r.text.slice(0, 300));
        assert.equal(r.headers['content-type'], ARROW);
        // end-of-stream marker
        assert.deepEqual([...r.body.subarray(r.body.length - 8)], [255, 255, 255, 255, 0, 0, 0, 0]);
        const t = A.tableFromIPC(r.body);
        compareAnswers(t, json, cols);
        const f = Object.fromEntries(t.schema.fields.map((x) => [x.name, x.type]));
        assert.ok(A.DataType.isTimestamp(f.tz) && f.tz.timezone, 'TIMESTAMPTZ carries a time zone');
        assert.equal(f.tsn.unit, A.TimeUnit.NANOSECOND);
        assert.equal(f.tss.unit, A.TimeUnit.SECOND);
        assert.equal(f.dc.precision, 38);
        assert.equal(f.dc.scale, 10);
      }
    }
  });

  it('streams many record batches for a large result, and answers an empty one with a schema', async () => {
    // flat, narrow columns: several DuckDB chunks (2048 rows) a batch, at most 65536 rows (+ one chunk)
    const q = 'SELECT i AS n, i::VARCHAR AS s, CASE WHEN i % 3 = 0 THEN NULL ELSE i % 2 = 0 END AS b FROM range(200000) t(i)';
    const r = await api.query('arrow_all', q, { accept: ARROW, stream: true });
    assert.equal(r.status, 200);
    const t = A.tableFromIPC(r.body);
    assert.equal(t.numRows, 200000);
    assert.ok(t.batches.length >= 3 && t.batches.length < 200000 / 2048 / 2, `${t.batches.length} batches`);
    assert.ok(t.batches.every((b) => b.numRows <= 65536 + 2048), t.batches.map((b) => b.numRows).join());
    assert.equal(String(t.getChild('n').get(199999)), '199999');
    assert.equal(t.getChild('s').get(123457), '123457');
    assert.equal(t.getChild('b').get(123456), null);
    assert.equal(t.getChild('b').get(123458), true);
    assert.equal(t.getChild('b').get(123457), false);
    // nested columns: one batch per DuckDB chunk
    const n = await api.query('arrow_all', 'SELECT i AS n, [i] AS l FROM range(100000) t(i)', { accept: ARROW, stream: true });
    assert.equal(n.status, 200);
    const tn = A.tableFromIPC(n.body);
    assert.equal(tn.numRows, 100000);
    assert.ok(tn.batches.length > 10, `${tn.batches.length} batches`);
    const e = await api.query('arrow_all', 'SELECT id, v FROM arrow_all WHERE id < 0', { accept: ARROW });
    assert.equal(e.status, 200);
    const te = A.tableFromIPC(e.body);
    assert.equal(te.numRows, 0);
    assert.deepEqual(te.schema.fields.map((x) => x.name), ['id', 'v']);
    const bad = await api.query('arrow_all', "SELECT 'a'::ENUM_NOT_A_TYPE", { accept: ARROW });
    assert.equal(bad.status, 400);
  });

  /* ---- in ------------------------------------------------------------------------------- */

  const IN_TYPES = {
    id: 'INTEGER', name: 'VARCHAR', n: 'BIGINT', f: 'DOUBLE', b: 'BOOLEAN', dt: 'DATE', ts: 'TIMESTAMP',
    l: 'INTEGER[]', st: 'STRUCT(a INTEGER, b VARCHAR)', dc: 'DECIMAL(10,2)', u: 'UUID',
  };

  function arrowTable(base, count) {
    const ids = Array.from({ length: count }, (_, k) => base + k);
    const dict = new A.Dictionary(new A.Utf8(), new A.Int32());
    const uuidField = new A.Field('u', new A.FixedSizeBinary(16), true, new Map([['ARROW:extension:name', 'arrow.uuid']]));
    const uuidVec = A.vectorFromArray(ids.map((k) => (k % 5 === 4 ? null : Uint8Array.from({ length: 16 }, (_, z) => (k + z) & 255))), new A.FixedSizeBinary(16));
    const cols = {
      id: A.vectorFromArray(ids, new A.Int32()),
      name: A.vectorFromArray(ids.map((k) => (k % 4 === 3 ? null : ['red', 'green', 'blue'][k % 4])), dict),
      n: A.vectorFromArray(ids.map((k) => (k % 3 === 2 ? null : BigInt(k) * 1000000000000n)), new A.Int64()),
      f: A.vectorFromArray(ids.map((k) => (k % 6 === 5 ? null : k / 8)), new A.Float64()),
      b: A.vectorFromArray(ids.map((k) => (k % 7 === 6 ? null : k % 2 === 0)), new A.Bool()),
      dt: A.vectorFromArray(ids.map((k) => (k % 5 === 1 ? null : new Date(Date.UTC(2020, 0, 1 + k)))), new A.DateDay()),
      ts: A.vectorFromArray(ids.map((k) => (k % 5 === 2 ? null : new Date(Date.UTC(2021, 5, 1, 0, k, 0, 250)))), new A.TimestampMillisecond()),
      l: A.vectorFromArray(ids.map((k) => (k % 8 === 7 ? null : [k, null, k + 1])), new A.List(new A.Field('item', new A.Int32(), true))),
      st: A.vectorFromArray(ids.map((k) => (k % 9 === 8 ? null : { a: k % 3 ? k : null, b: `s${k}` })),
        new A.Struct([new A.Field('a', new A.Int32(), true), new A.Field('b', new A.Utf8(), true)])),
    };
    let t = new A.Table(cols);
    const fields = [...t.schema.fields, uuidField];
    const batches = t.batches.map((bt) => {
      const data = A.makeData({ type: new A.Struct(fields), length: bt.numRows, nullCount: 0,
        children: [...bt.data.children, uuidVec.data[0]] });
      return new A.RecordBatch(new A.Schema(fields), data);
    });
    return new A.Table(new A.Schema(fields), batches);
  }

  function expectedRows(base, count) {
    const out = [];
    for (let k = base; k < base + count; k++) {
      const ts = new Date(Date.UTC(2021, 5, 1, 0, k, 0, 250)).toISOString().replace('Z', '').replace(/\.?0+$/, '');
      out.push({
        id: k, name: k % 4 === 3 ? null : ['red', 'green', 'blue'][k % 4],
        n: k % 3 === 2 ? null : String(BigInt(k) * 1000000000000n), f: k % 6 === 5 ? null : k / 8,
        b: k % 7 === 6 ? null : k % 2 === 0,
        dt: k % 5 === 1 ? null : new Date(Date.UTC(2020, 0, 1 + k)).toISOString().slice(0, 10),
        ts: k % 5 === 2 ? null : ts, l: k % 8 === 7 ? null : [k, null, k + 1],
        st: k % 9 === 8 ? null : { a: k % 3 ? k : null, b: `s${k}` },
        u: k % 5 === 4 ? null : uuidText(Uint8Array.from({ length: 16 }, (_, z) => (k + z) & 255)),
      });
    }
    return out;
  }

  function plain(rows) {
    return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Num ? (k === 'f' ? Number(v.text) : k === 'n' ? v.text : Number(v.text)) : k === 'l' && Array.isArray(v) ? v.map((x) => (x instanceof Num ? Number(x.text) : x)) : k === 'st' && v ? { a: v.a instanceof Num ? Number(v.a.text) : v.a, b: v.b } : v])));
  }

  async function lakeRows() {
    const r = await api.query('arrow_in', 'SELECT id, name, n, f, b, dt, ts, l, st, u FROM arrow_in ORDER BY id');
    assert.equal(r.status, 200, r.text);
    return plain(parseLossless(r.text).result);
  }

  it('appends Arrow stream and file bodies made by apache-arrow (dictionaries, NULLs, nesting, uuid)', async () => {
    assert.equal((await api.create('arrow_in', IN_TYPES)).status, 201);
    const s = await api.appendBody('arrow_in', A.tableToIPC(arrowTable(0, 50), 'stream'), ARROW);
    assert.equal(s.status, 200, s.text);
    assert.equal(s.json.rows, 50);
    const f = await api.appendBody('arrow_in', A.tableToIPC(arrowTable(50, 30), 'file'), ARROW_FILE);
    assert.equal(f.status, 200, f.text);
    assert.equal(f.json.rows, 30);
    // several record batches in one stream
    const whole = arrowTable(80, 20);
    const multi = new A.Table([...whole.slice(0, 7).batches, ...whole.slice(7, 15).batches, ...whole.slice(15).batches]);
    assert.equal(multi.batches.length, 3);
    const m = await api.appendBody('arrow_in', A.tableToIPC(multi, 'stream'), ARROW);
    assert.equal(m.status, 200, m.text);
    assert.equal(m.json.rows, 20);
    assert.deepEqual(await lakeRows(), expectedRows(0, 100));
    const dc = await api.query('arrow_in', 'SELECT count(*) AS c FROM arrow_in WHERE dc IS NULL');
    assert.equal(dc.json.result[0].c, 100, 'a table column the input lacks reads as NULL');
  });

  it('refuses malformed Arrow bodies with 400 and unknown columns with 422, appending nothing', async () => {
    const good = A.tableToIPC(arrowTable(1000, 20), 'stream');
    const cases = [
      good.subarray(0, good.length - 40), // truncated inside the last message
      good.subarray(0, 100),
      Buffer.concat([Buffer.from([255, 255, 255, 255, 255, 255, 255, 127]), Buffer.from(good).subarray(8)]),
      Buffer.from('ARROW1\0\0not really a file'),
      Buffer.from('{"rows": []}'),
    ];
    for (const body of cases) {
      const r = await api.appendBody('arrow_in', body, ARROW);
      const e = expectError(assert, r, 400, 'invalid_arrow');
      assert.match(e.detail, /Arrow/);
    }
    // corrupt the body (not the metadata) of a string column: offsets decreasing or UTF-8 broken
    const buf = Buffer.from(good);
    const at = buf.indexOf('s1005');
    buf[at] = 0xff;
    expectError(assert, await api.appendBody('arrow_in', buf, ARROW), 400, 'invalid_arrow');
    const extra = new A.Table({ id: A.vectorFromArray([1], new A.Int32()), nope: A.vectorFromArray(['x']) });
    const u = await api.appendBody('arrow_in', A.tableToIPC(extra, 'stream'), ARROW);
    const e = expectError(assert, u, 422, 'unknown_column');
    assert.match(e.detail, /nope/);
    // a value that does not fit the column type: 422, nothing committed
    const wide = new A.Table({ id: A.vectorFromArray([1, 2], new A.Int32()), b: A.vectorFromArray(['true', 'maybe']) });
    assert.equal((await api.appendBody('arrow_in', A.tableToIPC(wide, 'stream'), ARROW)).status, 422);
    assert.deepEqual(await lakeRows(), expectedRows(0, 100));
  });

  stopsCleanly(ctx);
});
