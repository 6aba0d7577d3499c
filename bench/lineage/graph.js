// Generates a lineage graph of JOBS jobs and as many datasets through POST
// /api/v1/lineage/batch, then prints node ids for the graph benchmark.
// Shape: LAYERS layers of WIDTH jobs; job (l, i) reads dataset (l-1, i) and one other
// dataset of layer l-1 drawn by a seeded PRNG, and writes dataset (l, i): a connected DAG
// that fans out, so a depth-20 walk from the middle reaches most of the graph.
// Usage: node graph.js BASE_URL [JOBS=5000] [WIDTH=100]
import { randomUUID } from 'node:crypto';

const base = process.argv[2];
const jobs = Number(process.argv[3] || 5000);
const width = Number(process.argv[4] || 100);
const layers = Math.ceil(jobs / width);
const ns = 'benchgraph';
const ds = (l, i) => ({ namespace: ns, name: `ds_${l}_${i}` });
let seed = 42;
const rnd = (n) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);

const events = [];
for (let l = 0; l < layers; l++)
  for (let i = 0; i < width && l * width + i < jobs; i++) {
    const inputs = l === 0 ? [ds('src', i)] : [ds(l - 1, i), ds(l - 1, rnd(width))];
    events.push({
      eventType: 'COMPLETE',
      eventTime: '2024-05-01T10:00:00.000Z',
      producer: 'https://example.com/bench',
      schemaURL: 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent',
      run: { runId: randomUUID() },
      job: { namespace: ns, name: `job_${l}_${i}` },
      inputs,
      outputs: [ds(l, i)],
    });
  }

const t0 = performance.now();
const chunk = 500;
for (let k = 0; k < events.length; k += chunk) {
  const res = await fetch(`${base}/api/v1/lineage/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(events.slice(k, k + chunk)),
  });
  const j = await res.json();
  if (res.status !== 200 || j.summary?.failed > 0) {
    console.error(`batch at ${k}: ${res.status} ${JSON.stringify(j).slice(0, 300)}`);
    process.exit(1);
  }
}
const secs = (performance.now() - t0) / 1000;
const mid = Math.floor(layers / 2);
console.log(JSON.stringify({
  events: events.length,
  seconds: secs,
  jobs: events.length,
  datasets: events.length + width,
  node: `job:${ns}:job_${mid}_${Math.floor(width / 2)}`,
}));
