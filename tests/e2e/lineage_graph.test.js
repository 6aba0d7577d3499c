// The lineage graph on a graph large enough for the server's in-memory snapshot and its index
// (a walk that reaches 1,000 nodes builds them; later walks answer from them): every answer is
// compared in full with one computed here from the edges the test wrote, on the first request
// (walk over the tables), the next ones (the index), small walks (SQL) and after a change (the
// snapshot must notice it through the tables, not through this process).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { fetchJson, request, useServer } from './lib/server.js';

const NS = 'graphshape';
const DNS = 's3://shape:bucket'; // a dataset namespace with ':' in it
const W = 30;
const L = 26;

const job = (l, i) => `job:${NS}:job_${l}_${i}`;
const ds = (l, i) => `dataset:${DNS}:ds_${l}_${i}`;

function event(jobName, inputs, outputs) {
  const d = (id) => ({ namespace: DNS, name: id.slice(`dataset:${DNS}:`.length) });
  return {
    eventType: 'COMPLETE',
    eventTime: '2024-05-01T10:00:00.000Z',
    producer: 'https://example.com/e2e',
    schemaURL: 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent',
    run: { runId: randomUUID() },
    job: { namespace: NS, name: jobName.slice(`job:${NS}:`.length) },
    inputs: inputs.map(d),
    outputs: outputs.map(d),
  };
}

/** Layer l's job i reads datasets i and i+1 of layer l-1 and writes dataset i of layer l. */
function layered() {
  const events = [];
  const edges = []; // [origin, destination]
  for (let l = 0; l < L; l++)
    for (let i = 0; i < W; i++) {
      const ins = [ds(l - 1, i), ds(l - 1, (i + 1) % W)];
      const outs = [ds(l, i)];
      events.push(event(job(l, i), ins, outs));
      for (const x of ins) edges.push([x, job(l, i)]);
      for (const x of outs) edges.push([job(l, i), x]);
    }
  return { events, edges };
}

/** The answer the server must give: Marquez's shape, nodes by id, edge lists by the far id. */
function expected(edges, start, depth) {
  const maxd = 2 * depth + (start.startsWith('job:') ? 0 : 1);
  const adj = new Map();
  for (const [o, d] of edges) {
    if (!adj.has(o)) adj.set(o, []);
    if (!adj.has(d)) adj.set(d, []);
    adj.get(o).push(d);
    adj.get(d).push(o);
  }
  const dist = new Map([[start, 0]]);
  const queue = [start];
  while (queue.length) {
    const x = queue.shift();
    if (dist.get(x) >= maxd) continue;
    for (const y of adj.get(x) || []) if (!dist.has(y)) dist.set(y, dist.get(x) + 1), queue.push(y);
  }
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  const kept = edges.filter(([o, d]) => dist.has(o) && dist.has(d) && Math.min(dist.get(o), dist.get(d)) < maxd);
  return [...dist.keys()].sort(cmp).map((id) => ({
    id,
    inEdges: kept.filter(([, d]) => d === id).sort((a, b) => cmp(a[0], b[0])).map(([origin, destination]) => ({ origin, destination })),
    outEdges: kept.filter(([o]) => o === id).sort((a, b) => cmp(a[1], b[1])).map(([origin, destination]) => ({ origin, destination })),
  }));
}

async function graph(ctx, nodeId, depth) {
  const r = await fetchJson(ctx.server.url(`/api/v1/lineage?nodeId=${encodeURIComponent(nodeId)}&depth=${depth}`));
  assert.equal(r.status, 200, r.text);
  return r;
}

function assertShape(r, want, what) {
  const got = r.json.graph.map((n) => ({ id: n.id, inEdges: n.inEdges, outEdges: n.outEdges }));
  assert.equal(got.length, want.length, `${what}: node count`);
  assert.deepEqual(got, want, what);
  for (const n of r.json.graph) {
    const isJob = n.id.startsWith('job:');
    assert.equal(n.type, isJob ? 'JOB' : 'DATASET', n.id);
    assert.equal(n.data.namespace, isJob ? NS : DNS, n.id);
    assert.equal(`${isJob ? 'job' : 'dataset'}:${n.data.namespace}:${n.data.name}`, n.id);
    assert.equal(n.data.type, isJob ? 'BATCH' : 'DB_TABLE', n.id);
  }
}

async function postBatch(ctx, events) {
  for (let k = 0; k < events.length; k += 500) {
    const r = await request(ctx.server.url('/api/v1/lineage/batch'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events.slice(k, k + 500)),
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(JSON.parse(r.text).summary.failed, 0, r.text);
  }
}

describe('lineage graph on a large graph (snapshot and index)', () => {
  const ctx = useServer();

  it('answers exactly the walk over the stored edges, before and after a change', async () => {
    const { events, edges } = layered();
    await postBatch(ctx, events);
    const mid = job(13, 7);
    const want = expected(edges, mid, 20);
    assert.ok(want.length > 1000, `the walk must be large enough for the snapshot (${want.length})`);
    // First: a walk over the tables that builds the snapshot on the way. Then: the index.
    const first = await graph(ctx, mid, 20);
    assertShape(first, want, 'depth 20, first request');
    const second = await graph(ctx, mid, 20);
    assertShape(second, want, 'depth 20, from the snapshot');
    assert.equal(second.text, first.text, 'both paths give the same bytes');
    for (const [start, depth] of [[ds(3, 4), 3], [job(0, 0), 2], [ds(L - 1, W - 1), 5], [job(25, 29), 100], [mid, 1], [mid, 0]])
      assertShape(await graph(ctx, start, depth), expected(edges, start, depth), `${start} depth ${depth}`);

    // A change: a new job reading a dataset of the graph, and a new output. The next answers
    // must show it (the snapshot is checked against the tables on every request).
    const extra = event(`job:${NS}:late`, [ds(12, 3)], [`dataset:${DNS}:late_out`]);
    await postBatch(ctx, [extra]);
    const edges2 = [...edges, [ds(12, 3), `job:${NS}:late`], [`job:${NS}:late`, `dataset:${DNS}:late_out`]];
    const want2 = expected(edges2, mid, 20);
    assert.ok(want2.some((n) => n.id === `job:${NS}:late`));
    assertShape(await graph(ctx, mid, 20), want2, 'depth 20 after a change');
    assertShape(await graph(ctx, mid, 20), want2, 'depth 20 after a change, again');
    assertShape(await graph(ctx, `job:${NS}:late`, 4), expected(edges2, `job:${NS}:late`, 4), 'from the new job');
  });
});
