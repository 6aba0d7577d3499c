// The /jobs API: persisted jobs, runs started and completed over HTTP, and the OpenLineage
// events they emit, each validated with ajv (JSON Schema 2020-12) against the bundled 2-0-2
// core and facet schemas (../shared/openlineage-spec or DLB_OL_SPEC_DIR).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { SKIP_SPEC, SPEC_DIR, loadValidator } from './lib/openlineage.js';
import { expectError, fetchJson, stopsCleanly, useServer } from './lib/server.js';



const RFC3339_Z = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

describe('jobs API', () => {
  const ctx = useServer();
  const call = (method, p, json) => fetchJson(ctx.server.url(p), { method, ...(json !== undefined ? { json } : {}) });

  it('POST /jobs creates a job (201); 409 on a duplicate; 422 on bad input', async () => {
    const r = await call('POST', '/jobs', { name: 'etl.daily', description: 'Daily ETL', type: 'ETL', owner: 'data-team', metadata: { tier: 1 } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.name, 'etl.daily');
    assert.equal(r.json.namespace, 'ducklake', 'MONITORING_OPENLINEAGE_NAMESPACE is the default');
    assert.equal(r.json.description, 'Daily ETL');
    assert.equal(r.json.owner, 'data-team');
    assert.deepEqual(r.json.metadata, { tier: 1 });
    assert.equal(r.json.last_run, null);
    assert.ok(r.json.request_id);
    expectError(assert, await call('POST', '/jobs', { name: 'etl.daily' }), 409, 'job_exists');
    const other = await call('POST', '/jobs', { name: 'etl.daily', namespace: 'team-b' });
    assert.equal(other.status, 201, 'the same name in another namespace is another job');
    for (const bad of ['', 'has space', '-lead', 'x/y', 'a'.repeat(201), 'semi;colon'])
      expectError(assert, await call('POST', '/jobs', { name: bad }), 422, 'invalid_name');
    expectError(assert, await call('POST', '/jobs', { name: 'ok', namespace: 'bad ns' }), 422, 'invalid_name');
    expectError(assert, await call('POST', '/jobs', {}), 422, 'validation_error');
    expectError(assert, await call('POST', '/jobs', { name: 'ok', metadata: [1] }), 422, 'validation_error');
    expectError(assert, await call('POST', '/jobs', { name: 'ok', owner: 5 }), 422, 'validation_error');
    expectError(assert, await call('POST', '/jobs', ['x']), 422, 'validation_error');
  });

  it('runs: START returns a UUIDv7; COMPLETE with inputs and outputs; 409 once finished', async () => {
    await call('POST', '/jobs', { name: 'loader' });
    const s = await call('POST', '/jobs/loader/runs', { metadata: { batch: 7 }, nominal_time: '2024-05-01T00:00:00Z' });
    assert.equal(s.status, 201, s.text);
    assert.match(s.json.run_id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(s.json.state, 'START');
    const id = s.json.run_id;
    let run = await call('GET', `/jobs/loader/runs/${id}`);
    assert.equal(run.json.state, 'START');
    assert.match(run.json.started_at, RFC3339_Z);
    assert.equal(run.json.ended_at, null);
    assert.deepEqual(run.json.metadata, { batch: 7 });
    assert.equal(run.json.nominal_start_time, '2024-05-01T00:00:00Z');
    const c = await call('PUT', `/jobs/loader/runs/${id}/complete`, { success: true, metadata: { inputs: ['orders', { namespace: 's3://raw', name: 'in/x.csv' }], outputs: ['sales.summary'] } });
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.state, 'COMPLETE');
    run = await call('GET', `/jobs/loader/runs/${id}`);
    assert.equal(run.json.state, 'COMPLETE');
    assert.match(run.json.ended_at, RFC3339_Z);
    assert.deepEqual(run.json.inputs.map((d) => `${d.namespace}|${d.name}`), ['ducklake://ducklake_metadata|main.orders', 's3://raw|in/x.csv']);
    assert.deepEqual(run.json.outputs.map((d) => d.name), ['sales.summary']);
    assert.deepEqual(run.json.events.map((e) => e.event_type), ['START', 'COMPLETE']);
    expectError(assert, await call('PUT', `/jobs/loader/runs/${id}/complete`, { success: true }), 409, 'run_finished');
  });

  it('a failed run carries the errorMessage facet; a parent run links runs', async () => {
    await call('POST', '/jobs', { name: 'parent' });
    await call('POST', '/jobs', { name: 'child' });
    const p = await call('POST', '/jobs/parent/runs');
    assert.equal(p.status, 201, p.text);
    const c = await call('POST', '/jobs/child/runs', { parent: p.json.run_id });
    assert.equal(c.status, 201, c.text);
    const f = await call('PUT', `/jobs/child/runs/${c.json.run_id}/complete`, { success: false, error: { message: 'disk full', stackTrace: 'at x' } });
    assert.equal(f.json.state, 'FAIL');
    const run = await call('GET', `/jobs/child/runs/${c.json.run_id}`);
    assert.equal(run.json.state, 'FAIL');
    assert.equal(run.json.error_message, 'disk full');
    assert.deepEqual(run.json.parent, { run_id: p.json.run_id, namespace: 'ducklake', job_name: 'parent' });
    const fail = run.json.events.find((e) => e.event_type === 'FAIL').event;
    assert.equal(fail.run.facets.errorMessage.message, 'disk full');
    assert.equal(fail.run.facets.errorMessage.stackTrace, 'at x');
    const plain = await call('POST', '/jobs/child/runs', { parent: { run_id: randomUUID(), job: 'ext', namespace: 'airflow' } });
    assert.equal(plain.status, 201, plain.text);
    const s = await call('PUT', `/jobs/child/runs/${plain.json.run_id}/complete`, { success: false, error: 'boom' });
    assert.equal(s.json.state, 'FAIL');
  });

  it('run errors: 404 unknown job or run, 404 a run of another job, 422 bad bodies', async () => {
    await call('POST', '/jobs', { name: 'errs' });
    expectError(assert, await call('POST', '/jobs/nope/runs'), 404, 'job_not_found');
    expectError(assert, await call('PUT', `/jobs/errs/runs/${randomUUID()}/complete`, {}), 404, 'run_not_found');
    expectError(assert, await call('PUT', '/jobs/errs/runs/not-a-uuid/complete', {}), 404, 'run_not_found');
    expectError(assert, await call('GET', `/jobs/errs/runs/${randomUUID()}`), 404, 'run_not_found');
    const r = await call('POST', '/jobs/errs/runs');
    await call('POST', '/jobs', { name: 'errs2' });
    expectError(assert, await call('PUT', `/jobs/errs2/runs/${r.json.run_id}/complete`, {}), 404, 'run_not_found');
    expectError(assert, await call('GET', `/jobs/errs2/runs/${r.json.run_id}`), 404, 'run_not_found');
    expectError(assert, await call('PUT', `/jobs/errs/runs/${r.json.run_id}/complete`, { success: 'yes' }), 422, 'validation_error');
    expectError(assert, await call('PUT', `/jobs/errs/runs/${r.json.run_id}/complete`, { metadata: { inputs: [42] } }), 422, 'validation_error');
    expectError(assert, await call('PUT', `/jobs/errs/runs/${r.json.run_id}/complete`, { error: 42, success: false }), 422, 'validation_error');
    expectError(assert, await call('POST', '/jobs/errs/runs', { parent: 'x' }), 422, 'validation_error');
    expectError(assert, await call('POST', '/jobs/errs/runs', { parent: randomUUID() }), 422, 'validation_error');
    expectError(assert, await call('POST', '/jobs/errs/runs', { nominal_time: '2024-01-01' }), 422, 'validation_error');
    expectError(assert, await call('POST', '/jobs/errs/runs', { metadata: 'x' }), 422, 'validation_error');
    const bad = await fetchJson(ctx.server.url('/jobs/errs/runs'), { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } });
    expectError(assert, bad, 400, 'invalid_json');
    expectError(assert, await call('GET', '/jobs/nope'), 404, 'job_not_found');
  });

  it('GET /jobs lists jobs with their last run state, paginated; GET /jobs/{job} has its runs', async () => {
    const l = await call('GET', '/jobs?limit=2');
    assert.equal(l.status, 200, l.text);
    assert.equal(l.json.jobs.length, 2);
    assert.ok(l.json.total >= 6);
    const all = [];
    for (let off = 0; off < l.json.total; off += 2) all.push(...(await call('GET', `/jobs?limit=2&offset=${off}`)).json.jobs);
    assert.equal(new Set(all.map((j) => `${j.namespace}:${j.name}`)).size, l.json.total);
    const loader = all.find((j) => j.name === 'loader');
    assert.equal(loader.last_run_state, 'COMPLETE');
    assert.equal(loader.total_runs, 1);
    const ns = await call('GET', '/jobs?namespace=team-b');
    assert.deepEqual(ns.json.jobs.map((j) => j.name), ['etl.daily']);
    const one = await call('GET', '/jobs/loader');
    assert.equal(one.json.runs.length, 1);
    assert.equal(one.json.runs[0].state, 'COMPLETE');
    const nsq = await call('GET', '/jobs/etl.daily?namespace=team-b');
    assert.equal(nsq.json.namespace, 'team-b');
    expectError(assert, await call('GET', '/jobs?limit=abc'), 422, 'validation_error');
    expectError(assert, await call('GET', '/jobs?offset=-1'), 422, 'validation_error');
  });

  it('every event the jobs API emitted is schema-valid OpenLineage 2-0-2', { skip: SKIP_SPEC }, async () => {
    const validate = loadValidator();
    const events = [];
    let cursor = null;
    do {
      const r = await call('GET', `/api/v1/events/lineage?limit=20${cursor ? `&cursor=${cursor}` : ''}`);
      events.push(...r.json.events);
      cursor = r.json.next_cursor;
    } while (cursor);
    assert.ok(events.length >= 12, `events: ${events.length}`);
    const kinds = new Set();
    for (const ev of events) {
      validate(ev);
      assert.match(ev.eventTime, RFC3339_Z);
      kinds.add(ev.eventType || 'JobEvent');
    }
    assert.deepEqual([...kinds].sort(), ['COMPLETE', 'FAIL', 'JobEvent', 'START']);
  });

  stopsCleanly(ctx);
});
