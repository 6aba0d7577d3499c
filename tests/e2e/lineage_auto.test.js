// Automatic lineage for table operations (issue 5 item 4, docs/decisions/0013-lineage.md):
// every create, append, drop and query through the API emits OpenLineage RunEvents, read back
// through GET /api/v1/events/lineage and validated with ajv (JSON Schema 2020-12) against the
// bundled 2-0-2 core and facet schemas (../shared/openlineage-spec or DLB_OL_SPEC_DIR).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { SKIP_SPEC, SPEC_DIR, loadValidator } from './lib/openlineage.js';
import { expectError, fetchJson, sleep, stopsCleanly } from './lib/server.js';
import { lakeApi, useLakeServer } from './lib/lake.js';

if (SKIP_SPEC) console.log(`# lineage_auto: schema validation skipped: ${SKIP_SPEC}`);

const NS = 'ducklake'; // MONITORING_OPENLINEAGE_NAMESPACE default
const DS_NS = `ducklake://${process.env.DB_DUCKLAKE_METADATA_CATALOG || 'ducklake_metadata'}`; // the default catalog


/** Every stored event, oldest first, through the read API (following next_cursor). */
async function allEvents(ctx) {
  const out = [];
  let cursor = null;
  for (let i = 0; i < 1000; i++) {
    const r = await fetchJson(ctx.server.url(`/api/v1/events/lineage?limit=100${cursor ? `&cursor=${cursor}` : ''}`));
    assert.equal(r.status, 200, r.text);
    out.push(...r.json.events);
    cursor = r.json.next_cursor;
    if (!cursor) return out.reverse();
  }
  throw new Error('pagination does not end');
}

const ofJob = (events, job) => events.filter((e) => e.job?.name === job && e.job?.namespace === NS);

/** Events of a job, waiting until at least n exist (query events are stored in the background). */
async function waitJob(ctx, job, n, timeoutMs = 10000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const got = ofJob(await allEvents(ctx), job);
    if (got.length >= n || Date.now() > end) return got;
    await sleep(50);
  }
}

const dsOf = (ev) => [...(ev.inputs || []), ...(ev.outputs || [])];

function checkTableDataset(d, name, snapshot) {
  assert.equal(d.namespace, DS_NS);
  assert.equal(d.name, name);
  assert.equal(d.facets.dataSource.name, DS_NS);
  assert.equal(d.facets.dataSource.uri, DS_NS);
  assert.equal(d.facets.storage.storageLayer, 'ducklake');
  assert.equal(d.facets.storage.fileFormat, 'parquet');
  assert.equal(d.facets.version.datasetVersion, String(snapshot), 'version = the snapshot the API answered');
}

describe('automatic lineage: table operations', () => {
  const ctx = useLakeServer();
  const api = () => lakeApi(ctx.server);
  const snaps = {};

  it('create: one COMPLETE with schema, dataSource, storage, version and lifecycleStateChange CREATE', async () => {
    const r = await api().create('auto_t', { id: 'INTEGER NOT NULL', name: 'VARCHAR', s: 'STRUCT(a INTEGER, tags VARCHAR[])' });
    assert.equal(r.status, 201, r.text);
    snaps.create = r.json.snapshot_id;
    const evs = ofJob(await allEvents(ctx), 'ducklake.create.main.auto_t');
    assert.equal(evs.length, 1, 'written in the commit: COMPLETE alone');
    const ev = evs[0];
    assert.equal(ev.eventType, 'COMPLETE');
    assert.equal(ev.inputs.length, 0);
    assert.equal(ev.outputs.length, 1);
    const d = ev.outputs[0];
    checkTableDataset(d, 'main.auto_t', snaps.create);
    assert.equal(d.facets.lifecycleStateChange.lifecycleStateChange, 'CREATE');
    const f = d.facets.schema.fields;
    assert.deepEqual(f.map((x) => x.name), ['id', 'name', 's']);
    assert.equal(f[0].type, 'int32');
    assert.equal(f[1].type, 'varchar');
    assert.equal(f[2].type, 'struct');
    assert.deepEqual(f[2].fields.map((x) => [x.name, x.type]), [['a', 'int32'], ['tags', 'list']]);
    assert.deepEqual(f[2].fields[1].fields.map((x) => [x.name, x.type]), [['element', 'varchar']]);
    assert.equal(ev.job.facets.jobType.jobType, 'CREATE_TABLE');
    assert.equal(ev.job.facets.jobType.integration, 'DUCKLAKE');
    assert.equal(ev.run.facets.processing_engine.name, 'ducklake-backend');
  });

  it('append: COMPLETE with outputStatistics (rows, bytes, files) and version = the snapshot', async () => {
    const r = await api().appendRows('auto_t', [{ id: 1, name: 'a' }, { id: 2, name: 'b', s: { a: 5, tags: ['x'] } }, { id: 3 }]);
    assert.equal(r.status, 200, r.text);
    snaps.append = r.json.snapshot_id;
    const evs = ofJob(await allEvents(ctx), 'ducklake.append.main.auto_t');
    assert.equal(evs.length, 1);
    const d = evs[0].outputs[0];
    checkTableDataset(d, 'main.auto_t', snaps.append);
    assert.equal(d.facets.lifecycleStateChange, undefined);
    assert.equal(d.facets.schema.fields.length, 3);
    const st = d.outputFacets.outputStatistics;
    assert.equal(st.rowCount, 3);
    assert.equal(st.fileCount, 1);
    assert.ok(st.size > 0, `size ${st.size}`);
    const sy = d.facets.symlinks.identifiers[0];
    assert.equal(sy.type, 'LOCATION');
    assert.match(`${sy.namespace}/${sy.name}`, /auto_t\/$/);
  });

  it('a rolled-back append (422) leaves nothing in the lineage store', async () => {
    const before = (await allEvents(ctx)).length;
    expectError(assert, await api().appendRows('auto_t', [{ id: 4 }, { id: 'not a number' }]), 422, 'invalid_row');
    expectError(assert, await api().appendRows('auto_t', [{ id: null }]), 422, 'invalid_row');
    expectError(assert, await api().appendRows('nosuch', [{ id: 1 }]), 404, 'table_not_found');
    await sleep(200);
    const after = await allEvents(ctx);
    assert.equal(after.length, before, after.slice(before).map((e) => e.job.name).join(', '));
  });

  it('query: START and COMPLETE with the sql job facet and the snapshot read as version', async () => {
    const sql = 'SELECT count(*) AS n FROM auto_t';
    const r = await api().query('auto_t', sql);
    assert.equal(r.status, 200, r.text);
    const evs = await waitJob(ctx, 'ducklake.query.main.auto_t', 2);
    assert.deepEqual(evs.map((e) => e.eventType), ['START', 'COMPLETE']);
    assert.equal(evs[0].run.runId, evs[1].run.runId);
    assert.ok(evs[0].eventTime <= evs[1].eventTime);
    for (const ev of evs) {
      assert.equal(ev.outputs.length, 0);
      assert.equal(ev.inputs.length, 1);
      checkTableDataset(ev.inputs[0], 'main.auto_t', snaps.append);
      assert.equal(ev.job.facets.sql.query, sql);
      assert.equal(ev.job.facets.jobType.jobType, 'QUERY');
    }
  });

  it('a failed query: START and FAIL with errorMessage', async () => {
    const r = await api().query('auto_t', 'SELECT nosuchcolumn FROM auto_t');
    assert.ok(r.status >= 400, `status ${r.status}`);
    const evs = await waitJob(ctx, 'ducklake.query.main.auto_t', 4);
    const last = evs.slice(-2);
    assert.deepEqual(last.map((e) => e.eventType), ['START', 'FAIL']);
    assert.match(last[1].run.facets.errorMessage.message, /nosuchcolumn/i);
    assert.equal(last[1].job.facets.sql.query, 'SELECT nosuchcolumn FROM auto_t');
  });

  it('time travel: the query event names the snapshot it read', async () => {
    const r = await api().query('auto_t', 'SELECT 1', { qs: `?snapshot=${snaps.create}` });
    assert.equal(r.status, 200, r.text);
    const evs = await waitJob(ctx, 'ducklake.query.main.auto_t', 6);
    const ev = evs.at(-1);
    assert.equal(ev.eventType, 'COMPLETE');
    assert.equal(ev.inputs[0].facets.version.datasetVersion, String(snaps.create));
  });

  it('another schema: the dataset is <schema>.<table>, the job ducklake.<op>.<schema>.<table>', async () => {
    const c = await api().create('t2', { v: 'BIGINT' }, { schema_name: 'sales' });
    assert.equal(c.status, 201, c.text);
    const a = await api().appendRows('sales.t2', [{ v: 1 }]);
    assert.equal(a.status, 200, a.text);
    const events = await allEvents(ctx);
    const cr = ofJob(events, 'ducklake.create.sales.t2');
    const ap = ofJob(events, 'ducklake.append.sales.t2');
    assert.equal(cr.length, 1);
    assert.equal(ap.length, 1);
    checkTableDataset(cr[0].outputs[0], 'sales.t2', c.json.snapshot_id);
    checkTableDataset(ap[0].outputs[0], 'sales.t2', a.json.snapshot_id);
  });

  it('drop: COMPLETE with lifecycleStateChange DROP and the schema the table had', async () => {
    const r = await api().drop('auto_t');
    assert.equal(r.status, 200, r.text);
    const evs = ofJob(await allEvents(ctx), 'ducklake.drop.main.auto_t');
    assert.equal(evs.length, 1);
    const d = evs[0].outputs[0];
    checkTableDataset(d, 'main.auto_t', r.json.snapshot_id);
    assert.equal(d.facets.lifecycleStateChange.lifecycleStateChange, 'DROP');
    assert.deepEqual(d.facets.schema.fields.map((x) => x.name), ['id', 'name', 's']);
    expectError(assert, await api().drop('auto_t'), 404, 'table_not_found');
    assert.equal(ofJob(await allEvents(ctx), 'ducklake.drop.main.auto_t').length, 1, 'a failed drop adds nothing');
  });

  it('the lineage read API sees the table as one dataset with its producing jobs', async () => {
    const r = await fetchJson(ctx.server.url(`/api/v1/lineage/datasets/lineage?namespace=${encodeURIComponent(DS_NS)}&name=main.auto_t`));
    assert.equal(r.status, 200, r.text);
    const names = (x) => (x || []).map((j) => j.name || j.job_name || j).map(String);
    const text = JSON.stringify(r.json);
    for (const j of ['ducklake.create.main.auto_t', 'ducklake.append.main.auto_t', 'ducklake.drop.main.auto_t', 'ducklake.query.main.auto_t'])
      assert.ok(text.includes(j), `${j} in ${names(r.json.produced_by)} / ${names(r.json.consumed_by)}`);
  });

  it('every event the table operations emitted is schema-valid OpenLineage 2-0-2', { skip: SKIP_SPEC }, async () => {
    const validate = loadValidator({ standardOnly: true });
    const events = (await allEvents(ctx)).filter((e) => e.job?.name?.startsWith('ducklake.'));
    assert.ok(events.length >= 10, `events: ${events.length}`);
    for (const ev of events) {
      validate(ev);
      for (const d of dsOf(ev)) assert.equal(d.namespace, DS_NS);
    }
  });

  stopsCleanly(ctx);
});

describe('automatic lineage: inlined appends', () => {
  const ctx = useLakeServer({ DB_DUCKLAKE_DATA_INLINING_ROW_LIMIT: 10 });

  it('an inlined append: rowCount, no file; schema-valid', async () => {
    const api = lakeApi(ctx.server);
    assert.equal((await api.create('small', { id: 'INTEGER' })).status, 201);
    const r = await api.appendRows('small', [{ id: 1 }, { id: 2 }]);
    assert.equal(r.status, 200, r.text);
    const evs = ofJob(await allEvents(ctx), 'ducklake.append.main.small');
    assert.equal(evs.length, 1);
    const d = evs[0].outputs[0];
    checkTableDataset(d, 'main.small', r.json.snapshot_id);
    assert.deepEqual(
      { rows: d.outputFacets.outputStatistics.rowCount, files: d.outputFacets.outputStatistics.fileCount },
      { rows: 2, files: 0 },
    );
    if (!SKIP_SPEC) {
      const validate = loadValidator({ standardOnly: true });
      for (const ev of ofJob(await allEvents(ctx), 'ducklake.create.main.small').concat(evs)) validate(ev);
    }
  });

  stopsCleanly(ctx);
});
