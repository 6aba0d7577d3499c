// OpenLineage collector, lineage read API, graph and events list. Every event read back is
// validated with an independent JSON Schema 2020-12 validator (ajv) against the bundled
// OpenLineage 2-0-2 schemas (../shared/openlineage-spec or DLB_OL_SPEC_DIR).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { REPO_ROOT, expectError, fetchJson, request, stopsCleanly, useServer } from './lib/server.js';

const SPEC_DIR = process.env.DLB_OL_SPEC_DIR || path.join(REPO_ROOT, '../shared/openlineage-spec');
const HAVE_SPEC = fs.existsSync(path.join(SPEC_DIR, 'OpenLineage.json'));
const SKIP_SPEC = HAVE_SPEC ? false : `OpenLineage spec not found at ${SPEC_DIR} (set DLB_OL_SPEC_DIR)`;

/** ajv with the core and every facet schema; check(event) throws with ajv's errors. */
function loadValidator() {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const core = JSON.parse(fs.readFileSync(path.join(SPEC_DIR, 'OpenLineage.json'), 'utf8'));
  ajv.addSchema(core);
  const facets = {}; // level -> key -> validator
  for (const f of fs.readdirSync(path.join(SPEC_DIR, 'facets'))) {
    const s = JSON.parse(fs.readFileSync(path.join(SPEC_DIR, 'facets', f), 'utf8'));
    ajv.addSchema(s);
    const name = f.replace(/\.json$/, '');
    const level = /InputDatasetFacet$/.test(name) ? 'input' : /OutputDatasetFacet$/.test(name) ? 'output'
      : /DatasetFacet$/.test(name) ? 'dataset' : /JobFacet$/.test(name) ? 'job' : /RunFacet$/.test(name) ? 'run' : 'other';
    for (const key of Object.keys(s.properties || {})) ((facets[level] ||= {})[key] = ajv.getSchema(s.$id));
  }
  const coreV = ajv.getSchema(core.$id);
  const checkFacets = (level, map, where) => {
    for (const [k, v] of Object.entries(map || {})) {
      const fv = facets[level]?.[k];
      if (fv && !fv({ [k]: v })) throw new Error(`${where}.${k}: ${ajv.errorsText(fv.errors)}`);
    }
  };
  return (ev) => {
    if (!coreV(ev)) throw new Error(`core schema: ${ajv.errorsText(coreV.errors)}\n${JSON.stringify(ev)}`);
    checkFacets('run', ev.run?.facets, 'run.facets');
    checkFacets('job', ev.job?.facets, 'job.facets');
    for (const d of [...(ev.inputs || []), ...(ev.outputs || []), ...(ev.dataset ? [ev.dataset] : [])])
      checkFacets('dataset', d.facets, 'dataset.facets');
    for (const d of ev.inputs || []) checkFacets('input', d.inputFacets, 'inputFacets');
    for (const d of ev.outputs || []) checkFacets('output', d.outputFacets, 'outputFacets');
  };
}

const PRODUCER = 'https://github.com/OpenLineage/OpenLineage/tree/1.0.0/integration/test';
const SCHEMA = 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent';
const facet = (name, ver, extra) => ({
  _producer: PRODUCER,
  _schemaURL: `https://openlineage.io/spec/facets/${ver}/${name}.json#/$defs/${name}`,
  ...extra,
});

function runEvent({ type = 'START', runId = randomUUID(), ns = 'e2e', job = 'job', time, inputs = [], outputs = [], runFacets } = {}) {
  return {
    eventType: type,
    eventTime: time || new Date().toISOString(),
    producer: PRODUCER,
    schemaURL: SCHEMA,
    run: { runId, ...(runFacets ? { facets: runFacets } : {}) },
    job: { namespace: ns, name: job },
    inputs,
    outputs,
  };
}

const post = (ctx, p, body, headers = {}) =>
  request(ctx.server.url(p), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
const get = (ctx, p) => fetchJson(ctx.server.url(p));

/** Every event matching the query, following next_cursor. */
async function allEvents(ctx, query = '') {
  const out = [];
  let cursor = null;
  for (let i = 0; i < 1000; i++) {
    const r = await get(ctx, `/api/v1/events/lineage?limit=50${query}${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(r.status, 200, r.text);
    out.push(...r.json.events);
    cursor = r.json.next_cursor;
    if (!cursor) return out;
  }
  throw new Error('pagination does not end');
}

describe('lineage collector', () => {
  const ctx = useServer();

  it('accepts a RunEvent (200 after commit) and stores a duplicate once', async () => {
    const ev = runEvent({ job: 'dup' });
    const a = await post(ctx, '/api/v1/lineage', ev);
    assert.equal(a.status, 200, a.text);
    assert.equal(a.json.status, 'accepted');
    assert.equal(a.json.kind, 'RunEvent');
    assert.equal(a.json.run_id, ev.run.runId);
    assert.deepEqual(a.json.warnings, []);
    const b = await post(ctx, '/api/v1/lineage', ev);
    assert.equal(b.json.status, 'duplicate');
    assert.equal(b.json.event_id, a.json.event_id);
    // the same event with other key order and whitespace is still the same event
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(ev).reverse()), null, 2);
    const c = await post(ctx, '/api/v1/lineage', reordered);
    assert.equal(c.json.status, 'duplicate');
    const evs = await allEvents(ctx, `&run_id=${ev.run.runId}`);
    assert.equal(evs.length, 1);
  });

  it('accepts gzip bodies; rejects corrupt gzip and unknown encodings', async () => {
    const ev = runEvent({ job: 'gz' });
    const r = await post(ctx, '/api/v1/lineage', zlib.gzipSync(JSON.stringify(ev)), { 'content-encoding': 'gzip' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'accepted');
    const bad = await post(ctx, '/api/v1/lineage', Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' });
    expectError(assert, bad, 400, 'invalid_encoding');
    const br = await post(ctx, '/api/v1/lineage', JSON.stringify(ev), { 'content-encoding': 'br' });
    expectError(assert, br, 415, 'unsupported_encoding');
  });

  it('accepts a Bearer token header like stock clients send', async () => {
    const r = await post(ctx, '/api/v1/lineage', runEvent({ job: 'bearer' }), { authorization: 'Bearer abc' });
    assert.equal(r.status, 200, r.text);
  });

  it('the seed path /api/v1/lineage/events is an alias', async () => {
    const r = await post(ctx, '/api/v1/lineage/events', runEvent({ job: 'alias' }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'accepted');
  });

  it('answers 400 naming the JSON path and the rule for malformed events', async () => {
    const cases = [
      [{ ...runEvent(), run: { runId: 'nope' } }, '/run/runId: must be a UUID'],
      [{ ...runEvent(), job: { namespace: 'x' } }, '/job/name: is required'],
      [{ ...runEvent(), eventType: 'DONE' }, '/eventType: must be one of'],
      [{ ...runEvent(), eventTime: 'yesterday' }, '/eventTime: must be an RFC 3339 date-time'],
      [(({ eventTime, ...rest }) => rest)(runEvent()), '/eventTime: is required'],
      [{ ...runEvent(), inputs: {} }, '/inputs: must be an array'],
      [{ ...runEvent(), outputs: [{ name: 'x' }] }, '/outputs/0/namespace: is required'],
      [{ eventTime: new Date().toISOString(), producer: PRODUCER, schemaURL: SCHEMA, job: { namespace: 'a', name: 'b' }, dataset: { namespace: 'a', name: 'b' } }, 'matches both DatasetEvent and JobEvent'],
      [{ eventTime: new Date().toISOString() }, 'must be a RunEvent'],
      [[1, 2], 'must be a JSON object'],
    ];
    for (const [ev, want] of cases) {
      const r = await post(ctx, '/api/v1/lineage', ev);
      const body = expectError(assert, r, 400, 'invalid_event');
      assert.ok(body.detail.includes(want), `${body.detail} should include ${want}`);
      assert.ok(Array.isArray(body.errors) && body.errors.length > 0 && body.errors[0].path);
    }
    expectError(assert, await post(ctx, '/api/v1/lineage', '{"run": '), 400, 'invalid_json');
    expectError(assert, await post(ctx, '/api/v1/lineage', ''), 400, 'invalid_json');
  });

  it('lenient: accepts small deviations, reports them, keeps eventTime and producer as sent', async () => {
    const ev = runEvent({ job: 'lenient', time: '2024-03-01T12:00:00.123' });
    delete ev.schemaURL;
    ev.producer = 'my-producer'; // not a URI
    ev.run.facets = { custom: { some: 1 } }; // no _producer / _schemaURL
    const r = await post(ctx, '/api/v1/lineage', ev);
    assert.equal(r.status, 200, r.text);
    const w = r.json.warnings.join('\n');
    for (const want of ['/schemaURL: is required', '/producer: must be a URI', '/eventTime: must be an RFC 3339 date-time with a zone', '/run/facets/custom/_producer: is required'])
      assert.ok(w.includes(want), `${w}\nshould include ${want}`);
    const [stored] = await allEvents(ctx, `&run_id=${ev.run.runId}`);
    assert.equal(stored.eventTime, '2024-03-01T12:00:00.123');
    assert.equal(stored.producer, 'my-producer');
    assert.deepEqual(stored, ev);
    const run = await get(ctx, `/api/v1/lineage/runs/${ev.run.runId}`);
    assert.equal(run.json.started_at, '2024-03-01T12:00:00.123000Z', 'no zone is read as UTC');
  });

  it('run state does not depend on arrival order (terminal wins, then eventTime)', async () => {
    const runId = randomUUID();
    const t = (s) => `2024-06-01T10:00:${String(s).padStart(2, '0')}Z`;
    const send = async (type, s) => assert.equal((await post(ctx, '/api/v1/lineage', runEvent({ type, runId, job: 'order', time: t(s) }))).status, 200);
    await send('COMPLETE', 30);
    await send('RUNNING', 20);
    await send('START', 10);
    await send('OTHER', 40);
    let run = await get(ctx, `/api/v1/lineage/runs/${runId}`);
    assert.equal(run.json.state, 'COMPLETE');
    assert.equal(run.json.started_at, '2024-06-01T10:00:10.000000Z');
    assert.equal(run.json.ended_at, '2024-06-01T10:00:30.000000Z');
    await send('FAIL', 25); // an older terminal event does not win
    run = await get(ctx, `/api/v1/lineage/runs/${runId}`);
    assert.equal(run.json.state, 'COMPLETE');
    await send('ABORT', 50); // a newer one does
    run = await get(ctx, `/api/v1/lineage/runs/${runId}`);
    assert.equal(run.json.state, 'ABORT');
  });

  it('merges facets accumulatively; an older event does not overwrite a newer facet', async () => {
    const runId = randomUUID();
    const nt = (v) => ({ nominalTime: facet('NominalTimeRunFacet', '1-0-1', { nominalStartTime: v }) });
    await post(ctx, '/api/v1/lineage', runEvent({ runId, type: 'RUNNING', time: '2024-01-01T00:00:10Z', runFacets: nt('2024-01-01T00:00:00Z') }));
    await post(ctx, '/api/v1/lineage', runEvent({ runId, type: 'START', time: '2024-01-01T00:00:05Z', runFacets: nt('2023-01-01T00:00:00Z') }));
    const run = await get(ctx, `/api/v1/lineage/runs/${runId}`);
    assert.equal(run.json.nominal_start_time, '2024-01-01T00:00:00Z');
    assert.equal(run.json.state, 'RUNNING');
  });

  it('batch: the spec partial-success answer; empty and non-array bodies', async () => {
    const good = runEvent({ job: 'batch' });
    const r = await post(ctx, '/api/v1/lineage/batch', [good, { job: {} }, runEvent({ job: 'batch', type: 'COMPLETE', runId: good.run.runId })]);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'partial_success');
    assert.deepEqual(r.json.summary, { received: 3, successful: 2, failed: 1, retriable: 0, non_retriable: 1 });
    assert.equal(r.json.failed_events[0].index, 1);
    assert.equal(r.json.failed_events[0].retriable, false);
    assert.match(r.json.failed_events[0].reason, /\/job\/namespace/);
    const ok = await post(ctx, '/api/v1/lineage/batch', [runEvent({ job: 'batch2' })]);
    assert.equal(ok.json.status, 'success');
    const empty = await post(ctx, '/api/v1/lineage/batch', []);
    assert.equal(empty.status, 200);
    assert.equal(empty.json.summary.received, 0);
    expectError(assert, await post(ctx, '/api/v1/lineage/batch', { not: 'an array' }), 400, 'invalid_json');
    const gz = await post(ctx, '/api/v1/lineage/batch', zlib.gzipSync(JSON.stringify([runEvent({ job: 'batchgz' })])), { 'content-encoding': 'gzip' });
    assert.equal(gz.json.status, 'success', gz.text);
    // each element is stored byte-exact as sent
    const raw = `[ {"eventTime":"2024-02-02T00:00:00Z",   "producer":"${PRODUCER}","schemaURL":"${SCHEMA}","run":{"runId":"${randomUUID()}"},"job":{"namespace":"e2e","name":"exact"}} ]`;
    assert.equal((await post(ctx, '/api/v1/lineage/batch', raw)).json.status, 'success');
  });

  it('JobEvent and DatasetEvent are accepted and stored', async () => {
    const t = new Date().toISOString();
    const je = await post(ctx, '/api/v1/lineage', { eventTime: t, producer: PRODUCER, schemaURL: 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent', job: { namespace: 'static', name: 'design' }, inputs: [{ namespace: 'static', name: 'src' }], outputs: [{ namespace: 'static', name: 'dst' }] });
    assert.equal(je.json.kind, 'JobEvent', je.text);
    const de = await post(ctx, '/api/v1/lineage', { eventTime: t, producer: PRODUCER, schemaURL: 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent', dataset: { namespace: 'static', name: 'dst', facets: { documentation: facet('DocumentationDatasetFacet', '1-1-0', { description: 'doc' }) } } });
    assert.equal(de.json.kind, 'DatasetEvent', de.text);
    const g = await get(ctx, '/api/v1/lineage?nodeId=job:static:design&depth=1');
    assert.deepEqual(g.json.graph.map((n) => n.id), ['dataset:static:dst', 'dataset:static:src', 'job:static:design']);
    const dst = g.json.graph.find((n) => n.id === 'dataset:static:dst');
    assert.equal(dst.data.facets.documentation.description, 'doc');
  });

  it('every fixture of the spec examples, wrapped into an event, is accepted', { skip: SKIP_SPEC }, async () => {
    const validate = loadValidator();
    const ex = path.join(SPEC_DIR, 'examples');
    let n = 0;
    for (const dir of fs.readdirSync(ex)) {
      const p = path.join(ex, dir);
      const files = fs.statSync(p).isDirectory() ? fs.readdirSync(p).map((f) => path.join(p, f)) : [p];
      for (const f of files) {
        const fixture = JSON.parse(fs.readFileSync(f, 'utf8'));
        let ev;
        if (fixture.eventTime) ev = fixture;
        else {
          ev = runEvent({ job: `fixture-${dir}`, inputs: [{ namespace: 'fx', name: 'in' }], outputs: [{ namespace: 'fx', name: 'out' }] });
          if (/InputDatasetFacet$/.test(dir)) ev.inputs[0].inputFacets = fixture;
          else if (/OutputDatasetFacet$/.test(dir)) ev.outputs[0].outputFacets = fixture;
          else if (/DatasetFacet$/.test(dir)) ev.outputs[0].facets = fixture;
          else if (/JobFacet$/.test(dir)) ev.job.facets = fixture;
          else if (/RunFacet$/.test(dir)) ev.run.facets = fixture;
          else ev.outputs[0].facets = fixture; // LineageFacet and others: dataset level
        }
        const r = await post(ctx, '/api/v1/lineage', ev);
        assert.equal(r.status, 200, `${f}: ${r.text}`);
        assert.ok(['accepted', 'duplicate'].includes(r.json.status));
        n++;
      }
    }
    assert.ok(n >= 40, `fixtures found: ${n}`);
    validate(runEvent()); // the validator itself works
  });

  it('read API: jobs, runs of a job, one run, datasets, dataset lineage, stats', async () => {
    const runId = randomUUID();
    const ds = { namespace: 'read', name: 'orders', facets: { dataSource: facet('DatasourceDatasetFacet', '1-0-1', { name: 'read', uri: 'postgres://db:5432' }) } };
    await post(ctx, '/api/v1/lineage', runEvent({ runId, ns: 'read', job: 'loader', outputs: [ds] }));
    await post(ctx, '/api/v1/lineage', runEvent({ runId: randomUUID(), ns: 'read', job: 'reporter', inputs: [{ namespace: 'read', name: 'orders' }] }));
    const jobs = await get(ctx, '/api/v1/lineage/jobs?namespace=read');
    assert.equal(jobs.status, 200);
    assert.deepEqual(jobs.json.map((j) => j.name).sort(), ['loader', 'reporter']);
    for (const j of jobs.json) for (const k of ['namespace', 'name', 'created_at', 'updated_at', 'metadata', 'total_runs']) assert.ok(k in j, k);
    const runs = await get(ctx, '/api/v1/lineage/jobs/loader/runs?namespace=read');
    assert.equal(runs.json.length, 1);
    for (const k of ['run_id', 'state', 'started_at', 'ended_at', 'metadata']) assert.ok(k in runs.json[0], k);
    expectError(assert, await get(ctx, '/api/v1/lineage/jobs/nope/runs'), 404, 'job_not_found');
    const run = await get(ctx, `/api/v1/lineage/runs/${runId}`);
    assert.equal(run.json.job_name, 'loader');
    assert.deepEqual(run.json.outputs.map((o) => [o.namespace, o.name, o.uri]), [['read', 'orders', 'postgres://db:5432']]);
    expectError(assert, await get(ctx, `/api/v1/lineage/runs/${randomUUID()}`), 404, 'run_not_found');
    expectError(assert, await get(ctx, '/api/v1/lineage/runs/not-a-uuid'), 404, 'run_not_found');
    const dss = await get(ctx, '/api/v1/lineage/datasets?namespace=read');
    assert.equal(dss.json.length, 1);
    assert.equal(dss.json[0].source_uri, 'postgres://db:5432');
    assert.equal(dss.json[0].involved_runs, 2);
    const lin = await get(ctx, '/api/v1/lineage/datasets/read/orders/lineage');
    assert.equal(lin.status, 200, lin.text);
    assert.deepEqual(lin.json.produced_by.map((r) => r.job_name), ['loader']);
    assert.deepEqual(lin.json.consumed_by.map((r) => r.job_name), ['reporter']);
    const q = await get(ctx, '/api/v1/lineage/datasets/lineage?namespace=read&name=orders');
    assert.deepEqual(q.json, lin.json);
    expectError(assert, await get(ctx, '/api/v1/lineage/datasets/read/missing/lineage'), 404, 'dataset_not_found');
    expectError(assert, await get(ctx, '/api/v1/lineage/datasets/lineage?namespace=read'), 422, 'validation_error');
    const st = await get(ctx, '/api/v1/lineage/stats');
    assert.ok(st.json.database.total_events > 0);
    for (const k of ['total_jobs', 'total_runs', 'total_datasets', 'total_events', 'active_runs']) assert.equal(typeof st.json.database[k], 'number');
    for (const k of ['lineage_events', 'lineage_events_dlq', 'total_messages', 'timestamp']) assert.ok(k in st.json.queues, k);
    expectError(assert, await get(ctx, '/api/v1/lineage/jobs?limit=0'), 422, 'validation_error');
  });

  it('graph: Marquez shape, bounded by depth, both directions, namespaces with colons', async () => {
    // chain: j0 -> d1 -> j1 -> d2 -> j2 -> d3 -> j3
    for (let i = 0; i < 4; i++) {
      const inputs = i ? [{ namespace: 's3://g', name: `d${i}` }] : [];
      const outputs = i < 3 ? [{ namespace: 's3://g', name: `d${i + 1}` }] : [];
      await post(ctx, '/api/v1/lineage', runEvent({ ns: 'graph', job: `j${i}`, inputs, outputs }));
    }
    const g1 = await get(ctx, '/api/v1/lineage?nodeId=job:graph:j1&depth=1');
    assert.equal(g1.status, 200, g1.text);
    assert.deepEqual(g1.json.graph.map((n) => n.id), ['dataset:s3://g:d1', 'dataset:s3://g:d2', 'job:graph:j0', 'job:graph:j1', 'job:graph:j2']);
    const j1 = g1.json.graph.find((n) => n.id === 'job:graph:j1');
    assert.equal(j1.type, 'JOB');
    assert.deepEqual(j1.inEdges, [{ origin: 'dataset:s3://g:d1', destination: 'job:graph:j1' }]);
    assert.deepEqual(j1.outEdges, [{ origin: 'job:graph:j1', destination: 'dataset:s3://g:d2' }]);
    assert.equal(j1.data.name, 'j1');
    const all = await get(ctx, '/api/v1/lineage?nodeId=dataset:s3://g:d2');
    assert.equal(all.json.graph.length, 7);
    assert.equal(all.json.graph.find((n) => n.id === 'dataset:s3://g:d2').type, 'DATASET');
    const g0 = await get(ctx, '/api/v1/lineage?nodeId=job:graph:j0&depth=0');
    assert.deepEqual(g0.json.graph.map((n) => n.id), ['job:graph:j0']);
    expectError(assert, await get(ctx, '/api/v1/lineage?nodeId=job:graph:nope'), 404, 'node_not_found');
    expectError(assert, await get(ctx, '/api/v1/lineage?nodeId=table:x:y'), 422, 'invalid_node_id');
    expectError(assert, await get(ctx, '/api/v1/lineage'), 422, 'validation_error');
    expectError(assert, await get(ctx, '/api/v1/lineage?nodeId=job:graph:j0&depth=-1'), 422, 'validation_error');
  });

  it('events list: time window, namespace and job filters, cursor pagination in both directions', async () => {
    const ns = `page-${randomUUID().slice(0, 8)}`;
    for (let i = 0; i < 7; i++) await post(ctx, '/api/v1/lineage', runEvent({ ns, job: i % 2 ? 'odd' : 'even', time: `2025-01-01T00:00:0${i}Z` }));
    const first = await get(ctx, `/api/v1/events/lineage?namespace=${ns}&limit=3`);
    assert.equal(first.json.totalCount, 7);
    assert.equal(first.json.events.length, 3);
    assert.equal(first.json.events[0].eventTime, '2025-01-01T00:00:06Z', 'newest first by default');
    const desc = await allEvents(ctx, `&namespace=${ns}`);
    assert.deepEqual(desc.map((e) => e.eventTime.slice(-3)), ['06Z', '05Z', '04Z', '03Z', '02Z', '01Z', '00Z']);
    const asc = await allEvents(ctx, `&namespace=${ns}&sortDirection=asc`);
    assert.deepEqual(asc.map((e) => e.eventTime), desc.map((e) => e.eventTime).reverse());
    const odd = await allEvents(ctx, `&namespace=${ns}&job=odd`);
    assert.equal(odd.length, 3);
    const win = await allEvents(ctx, `&namespace=${ns}&after=2025-01-01T00:00:02Z&before=2025-01-01T00:00:05Z`);
    assert.deepEqual(win.map((e) => e.eventTime.slice(-3)), ['04Z', '03Z', '02Z']);
    expectError(assert, await get(ctx, '/api/v1/events/lineage?cursor=zzz'), 422, 'invalid_cursor');
    expectError(assert, await get(ctx, '/api/v1/events/lineage?after=nope'), 422, 'validation_error');
    expectError(assert, await get(ctx, '/api/v1/events/lineage?sortDirection=up'), 422, 'validation_error');
  });

  it('every stored event that was sent schema-valid validates against the bundled schemas', { skip: SKIP_SPEC }, async () => {
    const validate = loadValidator();
    const evs = await allEvents(ctx, '&namespace=read');
    assert.ok(evs.length > 0);
    for (const ev of evs) validate(ev);
  });

  stopsCleanly(ctx);
});

describe('lineage collector, strict validation', () => {
  const ctx = useServer({ LINEAGE_VALIDATION: 'strict' });

  it('rejects every deviation with the path and the rule', async () => {
    const ev = runEvent({ job: 'strict' });
    delete ev.schemaURL;
    const r = await post(ctx, '/api/v1/lineage', ev);
    const body = expectError(assert, r, 400, 'invalid_event');
    assert.equal(body.detail, '/schemaURL: is required');
    const f = runEvent({ job: 'strict', runFacets: { x: { _producer: PRODUCER } } });
    assert.equal(expectError(assert, await post(ctx, '/api/v1/lineage', f), 400, 'invalid_event').detail, '/run/facets/x/_schemaURL: is required');
    const z = runEvent({ job: 'strict', time: '2024-01-01T00:00:00' });
    assert.match(expectError(assert, await post(ctx, '/api/v1/lineage', z), 400, 'invalid_event').detail, /^\/eventTime: /);
    const ok = await post(ctx, '/api/v1/lineage', runEvent({ job: 'strict' }));
    assert.equal(ok.status, 200, ok.text);
  });

  stopsCleanly(ctx);
});
