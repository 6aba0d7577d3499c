// Delivery of lineage events to MONITORING_OPENLINEAGE_URL: a test collector (a small HTTP
// server on 127.0.0.1 in this process) that fails with 500, times out and answers 429 with
// Retry-After must, once it recovers, have accepted every event exactly once, each run's
// events in order (START before RUNNING before COMPLETE). A kill -9 between the commit and
// the delivery still delivers after a restart on the same DATA_DIR; a change that was rolled
// back sends nothing; events the collector rejects with 400 land in the dead letters after
// QUEUE_QUEUE_RETRY_ATTEMPTS attempts and can be replayed.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import {
  expectError,
  fetchJson,
  freePort,
  makeTmpDir,
  request,
  sleep,
  startServer,
  stopsCleanly,
  useServer,
} from './lib/server.js';

const PRODUCER = 'https://github.com/OpenLineage/OpenLineage/tree/1.0.0/integration/test';
const SCHEMA = 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent';
const RANK = { START: 0, RUNNING: 1, OTHER: 1, COMPLETE: 2, ABORT: 2, FAIL: 2 };

// Short timings: QUEUE_WORKER_TIMEOUT is at its minimum (10 s), the retry delay at 0.1 s.
const QUEUE_ENV = {
  QUEUE_QUEUE_RETRY_DELAY: '0.1',
  QUEUE_QUEUE_POLL_INTERVAL: '1',
  QUEUE_QUEUE_RETRY_ATTEMPTS: '2',
  QUEUE_WORKER_TIMEOUT: '10',
  QUEUE_WORKER_COUNT: '2',
  MONITORING_OPENLINEAGE_API_KEY: 'collector-secret',
  LOG_ACCESS: 'false',
};

/** JSON with sorted keys: the identity of an event on both sides. */
function canon(v) {
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canon(v[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/**
 * The test collector. policy(req) decides each answer: {status, headers} or {hang: ms} (no
 * answer; the socket is destroyed after ms). Every request is recorded with its arrival time,
 * the answer and the parsed event.
 */
class Collector {
  constructor() {
    this.log = []; // {t, key, ev, auth, url, status, hung}
    this.policy = () => ({ status: 200 });
    this.sockets = new Set();
  }

  start(port) {
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let ev = null;
        try {
          ev = JSON.parse(body);
        } catch {
          ev = null;
        }
        const rec = { t: Date.now(), key: ev ? canon(ev) : body, ev, auth: req.headers.authorization, url: req.url };
        const p = this.policy(rec) || { status: 200 };
        this.log.push(rec);
        if (p.hang) {
          rec.hung = true;
          rec.status = 0;
          const timer = setTimeout(() => req.socket.destroy(), p.hang);
          req.socket.on('close', () => {
            clearTimeout(timer);
            rec.closedAt = Date.now();
            if (p.onClose) p.onClose();
          });
          return;
        }
        rec.status = p.status;
        res.writeHead(p.status, { 'content-type': 'application/json', ...(p.headers || {}) });
        res.end(JSON.stringify(p.status < 300 ? {} : { error: 'test collector says no' }));
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', resolve);
    });
  }

  async stop() {
    if (!this.server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
    this.server = null;
  }

  /** key -> number of 2xx answers */
  accepted() {
    const m = new Map();
    for (const r of this.log) if (r.status >= 200 && r.status < 300) m.set(r.key, (m.get(r.key) || 0) + 1);
    return m;
  }
}

const post = (s, p, body, method = 'POST') =>
  request(s.url(p), {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

function runEvent(type, runId, job, secondsOffset = 0, ns = 'e2e-delivery') {
  return {
    eventType: type,
    eventTime: new Date(Date.UTC(2024, 0, 1, 12, 0, secondsOffset)).toISOString(),
    producer: PRODUCER,
    schemaURL: SCHEMA,
    run: { runId },
    job: { namespace: ns, name: job },
    inputs: [],
    outputs: [],
  };
}

/** Every event the server stored (GET /api/v1/events/lineage, all pages). */
async function storedEvents(s) {
  const out = [];
  let cursor = null;
  for (let i = 0; i < 1000; i++) {
    const r = await fetchJson(s.url(`/api/v1/events/lineage?limit=500${cursor ? `&cursor=${cursor}` : ''}`));
    assert.equal(r.status, 200, r.text);
    out.push(...r.json.events);
    cursor = r.json.next_cursor;
    if (!cursor) return out;
  }
  throw new Error('pagination does not end');
}

async function deliveryStats(s) {
  const r = await fetchJson(s.url('/api/v1/lineage/stats'));
  assert.equal(r.status, 200, r.text);
  return r.json.delivery;
}

/** Waits until the collector accepted every stored event and the outbox is empty. */
async function waitAllDelivered(s, coll, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  let stored = [];
  let st = null;
  for (;;) {
    stored = await storedEvents(s);
    st = await deliveryStats(s);
    const acc = coll.accepted();
    if (st.queue_depth === 0 && stored.every((e) => acc.has(canon(e)))) return stored;
    if (Date.now() > deadline) {
      const missing = stored.filter((e) => !acc.has(canon(e))).length;
      throw new Error(
        `not delivered within ${timeoutMs} ms: ${missing} of ${stored.length} missing, stats ${JSON.stringify(st)}\n${s.tail(30)}`
      );
    }
    await sleep(200);
  }
}

/** Each run's events: accepted in rank order (START, RUNNING/OTHER, terminal), and no event
 *  of a later rank was sent while one of an earlier rank was pending (from its first send to
 *  its 2xx). A later event committed before the earlier one existed may have been tried
 *  earlier (it was the only one then); that is not a violation. */
function assertPerRunOrder(coll) {
  const byRun = new Map();
  coll.log.forEach((r, i) => {
    const id = r.ev?.run?.runId;
    if (!id || !r.ev.eventType) return;
    if (!byRun.has(id)) byRun.set(id, []);
    byRun.get(id).push({ ...r, i, rank: RANK[r.ev.eventType] ?? 1 });
  });
  let checked = 0;
  for (const [id, reqs] of byRun) {
    const dump = () => reqs.map((r) => `#${r.i} ${r.ev.eventType} -> ${r.status}${r.hung ? ' (hung)' : ''}`).join('\n');
    const ok = reqs.filter((r) => r.status >= 200 && r.status < 300);
    for (let k = 1; k < ok.length; k++)
      assert.ok(ok[k - 1].rank <= ok[k].rank, `run ${id}: accepted out of order:\n${dump()}`);
    for (const acc of ok) {
      const first = reqs.find((r) => r.key === acc.key).i;
      const bad = reqs.find((r) => r.rank > acc.rank && r.i > first && r.i < acc.i);
      assert.ok(!bad, `run ${id}: #${bad?.i} ${bad?.ev.eventType} sent while #${first} was pending:\n${dump()}`);
      checked++;
    }
  }
  return checked;
}

function assertExactlyOnce(coll, stored) {
  const acc = coll.accepted();
  for (const e of stored) {
    const n = acc.get(canon(e));
    assert.equal(n, 1, `event ${e.eventType || 'job'} ${e.run?.runId || e.job?.name}: accepted ${n} times`);
  }
  assert.equal(acc.size, stored.length, 'the collector accepted exactly the stored events (distinct)');
}

/** Creates a job and n runs through /jobs (START and COMPLETE each); returns the run ids. */
async function jobRuns(s, job, n) {
  const r = await post(s, '/jobs', { name: job });
  assert.equal(r.status, 201, r.text);
  const ids = [];
  for (let i = 0; i < n; i++) {
    const st = await post(s, `/jobs/${job}/runs`, {});
    assert.ok(st.status === 200 || st.status === 201, st.text);
    const id = st.json.run_id;
    const done = await post(s, `/jobs/${job}/runs/${id}/complete`, { success: i % 2 === 0, metadata: { inputs: ['a'], outputs: ['b'] }, ...(i % 2 ? { error: 'boom' } : {}) }, 'PUT');
    assert.equal(done.status, 200, done.text);
    ids.push(id);
  }
  return ids;
}

const collPort = await freePort();

describe('lineage delivery: failures, timeout, 429, then every event exactly once in order', () => {
  const coll = new Collector();
  before(() => coll.start(collPort));
  after(() => coll.stop());
  const ctx = useServer({ ...QUEUE_ENV, MONITORING_OPENLINEAGE_URL: `http://127.0.0.1:${collPort}` });

  it('recovers from 500s, a timeout and 429 Retry-After; per-run order; Bearer key', { timeout: 110000 }, async () => {
    const s = ctx.server;
    let phase = 'fail';
    let n429 = 0;
    let hungKey = null;
    coll.policy = (rec) => {
      if (phase === 'fail') return { status: 500 };
      if (phase === 'hang') {
        phase = 'hang-wait';
        hungKey = rec.key;
        return { hang: 15000, onClose: () => (phase = '429') };
      }
      if (phase === 'hang-wait') return { status: 503 };
      if (phase === '429') {
        if (++n429 >= 2) phase = 'ok';
        return { status: 429, headers: { 'retry-after': '2' } };
      }
      return { status: 200 };
    };

    // While the collector fails: runs through the jobs API, and a run whose events arrive out
    // of order (COMPLETE, then RUNNING, then START).
    await jobRuns(s, 'delivery_job', 3);
    const ooo = randomUUID();
    for (const [type, off] of [['COMPLETE', 20], ['RUNNING', 10], ['START', 0]]) {
      const r = await post(s, '/api/v1/lineage', runEvent(type, ooo, 'out_of_order', off));
      assert.equal(r.status, 200, r.text);
    }
    // Batch: two runs at once.
    const b1 = randomUUID(), b2 = randomUUID();
    const rb = await post(s, '/api/v1/lineage/batch', [
      runEvent('START', b1, 'batch_a', 0), runEvent('START', b2, 'batch_b', 0),
      runEvent('COMPLETE', b1, 'batch_a', 5), runEvent('FAIL', b2, 'batch_b', 5),
    ]);
    assert.equal(rb.status, 200, rb.text);

    // The collector saw failures; the breaker opened (stats say so at some point).
    const deadline = Date.now() + 20000;
    let sawOpen = false;
    while (Date.now() < deadline && !(coll.log.length >= 6 && sawOpen)) {
      const st = await deliveryStats(s);
      if (st.circuit_breaker !== 'closed') sawOpen = true;
      await sleep(100);
    }
    assert.ok(coll.log.length >= 6, `the collector saw ${coll.log.length} requests while failing`);
    assert.ok(sawOpen, 'the circuit breaker opened on a collector that answers 500');
    const st1 = await deliveryStats(s);
    assert.ok(st1.queue_depth > 0 && st1.failed > 0, JSON.stringify(st1));
    // Open breaker: fail fast, no hammering (at most a probe per open period).
    const before500 = coll.log.length;
    await sleep(500);
    assert.ok(coll.log.length - before500 <= 2, `requests while open: ${coll.log.length - before500}`);

    phase = 'hang';
    const stored = await waitAllDelivered(s, coll, 90000);
    assert.equal(stored.length, 1 + 3 * 2 + 3 + 4, "job event, 3 runs of two events, 3 + 4 raw events");
    assertExactlyOnce(coll, stored);
    assert.ok(assertPerRunOrder(coll) >= 6, 'per-run order checked');

    // The out-of-order run went START, RUNNING, COMPLETE.
    const seq = coll.log.filter((r) => r.ev?.run?.runId === ooo && r.status === 200).map((r) => r.ev.eventType);
    assert.deepEqual(seq, ['START', 'RUNNING', 'COMPLETE']);
    // The hung request timed out (QUEUE_WORKER_TIMEOUT) and its event was sent again.
    const hungAt = coll.log.findIndex((r) => r.hung);
    const h = coll.log[hungAt];
    assert.ok(h && h.key === hungKey, 'one request was left hanging');
    assert.ok(coll.log.slice(hungAt + 1).some((r) => r.key === hungKey), 'the timed-out event was re-sent');
    assert.ok(h.closedAt - h.t >= 9000 && h.closedAt - h.t < 14000, `timeout after ${h.closedAt - h.t} ms`);
    // Retry-After: 2 was honoured for the event that got it.
    let checked429 = 0;
    coll.log.forEach((r, i) => {
      if (r.status !== 429) return;
      const next = coll.log.slice(i + 1).find((x) => x.key === r.key);
      if (!next) return;
      assert.ok(next.t - r.t >= 1900, `re-sent ${next.t - r.t} ms after a 429 with Retry-After: 2`);
      checked429++;
    });
    assert.ok(checked429 >= 1, 'a 429 was followed by a retry');
    // Every request carried the key and went to /api/v1/lineage.
    for (const r of coll.log) {
      assert.equal(r.auth, 'Bearer collector-secret');
      assert.equal(r.url, '/api/v1/lineage');
    }
    const st = await deliveryStats(s);
    assert.equal(st.queue_depth, 0);
    assert.equal(st.circuit_breaker, 'closed');
    assert.ok(st.delivered >= stored.length);
  });

  it('sends nothing for a change that was rolled back', async () => {
    const s = ctx.server;
    coll.policy = () => ({ status: 200 });
    const bad = randomUUID();
    const inv = runEvent('START', bad, 'rolled_back');
    delete inv.job.name; // fatal: 400, nothing committed
    await expectError(assert, await fetchJson(s.url('/api/v1/lineage'), { method: 'POST', json: inv }), 400, 'invalid_event');
    const inv2 = runEvent('START', bad, 'rolled_back');
    inv2.run.runId = 'not-a-uuid';
    const rb = await post(s, '/api/v1/lineage/batch', [inv2, runEvent('START', bad, 'rolled_back_ok')]);
    assert.equal(rb.status, 200, rb.text);
    // A second completion of a finished run is refused (409): no second terminal event.
    const [run] = await jobRuns(s, 'rollback_job', 1);
    const again = await post(s, `/jobs/rollback_job/runs/${run}/complete`, { success: false, error: 'again' }, 'PUT');
    assert.equal(again.status, 409, again.text);
    // Completing an unknown run: 404, nothing emitted.
    const unknown = await post(s, `/jobs/rollback_job/runs/${randomUUID()}/complete`, { success: true }, 'PUT');
    assert.equal(unknown.status, 404, unknown.text);
    const stored = await waitAllDelivered(s, coll, 30000);
    await sleep(1500); // anything late would show up now
    assertExactlyOnce(coll, stored);
    const sentRolled = coll.log.filter((r) => r.ev?.job?.name === 'rolled_back' || r.ev?.run?.runId === 'not-a-uuid');
    assert.equal(sentRolled.length, 0, 'nothing of the rejected events reached the collector');
    assert.equal(coll.log.filter((r) => r.ev?.job?.name === 'rolled_back_ok').length, 1);
    const terminal = coll.log.filter((r) => r.ev?.run?.runId === run && RANK[r.ev.eventType] === 2);
    assert.equal(terminal.length, 1, 'one terminal event for the run completed once');
  });

  it('400 from the collector: dead letter after the attempts, listed, replayed, deleted', { timeout: 60000 }, async () => {
    const s = ctx.server;
    let reject = true;
    coll.policy = (rec) => (reject && rec.ev?.job?.name?.startsWith('poison') ? { status: 400 } : { status: 200 });
    const p1 = runEvent('START', randomUUID(), 'poison_one');
    const r = await post(s, '/api/v1/lineage', p1);
    assert.equal(r.status, 200, r.text);
    let list;
    const deadline = Date.now() + 20000;
    for (;;) {
      list = await fetchJson(s.url('/lineage/dlq'));
      assert.equal(list.status, 200, list.text);
      if (list.json.total >= 1 || Date.now() > deadline) break;
      await sleep(100);
    }
    assert.equal(list.json.total, 1, list.text);
    const dl = list.json.dead_letters[0];
    assert.equal(dl.attempts, 2, 'QUEUE_QUEUE_RETRY_ATTEMPTS attempts');
    assert.equal(dl.last_status, 400);
    assert.match(dl.reason, /HTTP 400/);
    assert.equal(dl.job_name, 'poison_one');
    assert.equal(dl.event_type, 'START');
    assert.equal(canon(dl.event), canon(p1));
    assert.equal(coll.log.filter((x) => x.key === canon(p1)).length, 2, 'two attempts reached the collector');
    assert.equal((await deliveryStats(s)).dead_letters, 1);

    // Replay one: delivered once the collector accepts it.
    reject = false;
    const rp = await post(s, `/lineage/dlq/${dl.id}/replay`);
    assert.equal(rp.status, 200, rp.text);
    assert.equal(rp.json.status, 'requeued');
    await waitAllDelivered(s, coll, 20000);
    assert.equal(coll.accepted().get(canon(p1)), 1);
    assert.equal((await fetchJson(s.url('/lineage/dlq'))).json.total, 0);
    await expectError(assert, await fetchJson(s.url(`/lineage/dlq/${dl.id}/replay`), { method: 'POST' }), 404, 'not_found');

    // Two more dead letters: paging, delete one, replay all.
    reject = true;
    const p2 = runEvent('START', randomUUID(), 'poison_two');
    const p3 = runEvent('START', randomUUID(), 'poison_three');
    assert.equal((await post(s, '/api/v1/lineage', p2)).status, 200);
    assert.equal((await post(s, '/api/v1/lineage', p3)).status, 200);
    const d2 = Date.now() + 20000;
    while ((await fetchJson(s.url('/lineage/dlq'))).json.total < 2 && Date.now() < d2) await sleep(100);
    const page = await fetchJson(s.url('/lineage/dlq?limit=1&offset=1'));
    assert.equal(page.json.total, 2);
    assert.equal(page.json.dead_letters.length, 1);
    assert.equal(page.json.limit, 1);
    assert.equal(page.json.offset, 1);
    await expectError(assert, await fetchJson(s.url('/lineage/dlq?limit=0')), 422, 'validation_error');
    const victim = page.json.dead_letters[0];
    const del = await fetchJson(s.url(`/lineage/dlq/${victim.id}`), { method: 'DELETE' });
    assert.equal(del.status, 200, del.text);
    await expectError(assert, await fetchJson(s.url(`/lineage/dlq/${victim.id}`), { method: 'DELETE' }), 404, 'not_found');
    await expectError(assert, await fetchJson(s.url('/lineage/dlq/999999999'), { method: 'DELETE' }), 404, 'not_found');
    await expectError(assert, await fetchJson(s.url('/lineage/dlq/abc'), { method: 'DELETE' }), 404, 'not_found');
    reject = false;
    const all = await post(s, '/lineage/dlq/replay');
    assert.equal(all.status, 200, all.text);
    assert.equal(all.json.requeued, 1);
    const kept = [p2, p3].find((p) => p.job.name !== victim.job_name);
    const d3 = Date.now() + 20000;
    while (!coll.accepted().get(canon(kept)) && Date.now() < d3) await sleep(100);
    assert.equal(coll.accepted().get(canon(kept)), 1, 'the replayed dead letter was delivered');
    assert.equal((await fetchJson(s.url('/lineage/dlq'))).json.total, 0);
    assert.equal((await post(s, '/lineage/dlq/replay')).json.requeued, 0);
  });

  it('exposes the queue in /metrics', async () => {
    const r = await request(ctx.server.url('/metrics'));
    assert.equal(r.status, 200);
    for (const name of ['dlb_lineage_queue_depth', 'dlb_lineage_dead_letters', 'dlb_lineage_queue_oldest_age_seconds'])
      assert.match(r.text, new RegExp(`^${name} `, 'm'), name);
    assert.match(r.text, /^dlb_lineage_deliveries_total\{outcome="delivered"\} [1-9]/m);
    assert.match(r.text, /^dlb_lineage_deliveries_total\{outcome="dead_letter"\} [1-9]/m);
  });

  stopsCleanly(ctx);
});

describe('lineage delivery: kill -9 between commit and delivery', () => {
  const coll = new Collector();
  after(() => coll.stop());
  let s1 = null, s2 = null;
  after(async () => {
    s1?.kill();
    if (s2) await s2.stop();
  });

  it('delivers after a restart on the same DATA_DIR', { timeout: 90000 }, async () => {
    const port = await freePort();
    const env = {
      ...QUEUE_ENV,
      MONITORING_OPENLINEAGE_URL: `http://127.0.0.1:${port}`,
      DATA_DIR: makeTmpDir(),
      ...(process.env.DB_POSTGRES_HOST ? { DB_POSTGRES_SCHEMA: `t_${randomBytes(6).toString('hex')}` } : {}),
    };
    // The collector is down: every committed event stays in the outbox.
    s1 = await startServer(env);
    const runs = await jobRuns(s1, 'crash_job', 3);
    const e = randomUUID();
    assert.equal((await post(s1, '/api/v1/lineage', runEvent('COMPLETE', e, 'crash_raw', 9))).status, 200);
    assert.equal((await post(s1, '/api/v1/lineage', runEvent('START', e, 'crash_raw', 0))).status, 200);
    const before = await storedEvents(s1);
    assert.ok((await deliveryStats(s1)).queue_depth >= before.length - 0, 'everything is queued');
    s1.kill(); // SIGKILL right after the commits
    await s1.exited;

    coll.policy = () => ({ status: 200 });
    await coll.start(port);
    s2 = await startServer(env);
    const stored = await waitAllDelivered(s2, coll, 60000);
    assert.equal(stored.length, before.length, 'nothing lost, nothing new');
    assertExactlyOnce(coll, stored);
    assertPerRunOrder(coll);
    for (const id of runs) {
      const types = coll.log.filter((r) => r.ev?.run?.runId === id).map((r) => r.ev.eventType);
      assert.deepEqual(types, ['START', types[1]]);
      assert.ok(['COMPLETE', 'FAIL'].includes(types[1]));
    }
    const raw = coll.log.filter((r) => r.ev?.run?.runId === e).map((r) => r.ev.eventType);
    assert.deepEqual(raw, ['START', 'COMPLETE']);
    const res = await s2.stop();
    s2 = null;
    assert.deepEqual(res, { code: 0, signal: null });
  });
});

describe('lineage delivery: two replicas on one PostgreSQL schema', { skip: process.env.DB_POSTGRES_HOST ? false : 'PostgreSQL only (scripts/run-e2e.sh postgres)' }, () => {
  const coll = new Collector();
  const servers = [];
  after(async () => {
    for (const s of servers) await s.stop().catch(() => {});
    await coll.stop();
  });

  it('never sends one event twice at once (FOR UPDATE SKIP LOCKED + leases)', { timeout: 90000 }, async () => {
    const port = await freePort();
    coll.policy = () => ({ status: 200 });
    await coll.start(port);
    const env = {
      ...QUEUE_ENV,
      QUEUE_WORKER_COUNT: '4',
      QUEUE_QUEUE_BATCH_SIZE: '5',
      MONITORING_OPENLINEAGE_URL: `http://127.0.0.1:${port}`,
      DB_POSTGRES_SCHEMA: `t_${randomBytes(6).toString('hex')}`,
    };
    servers.push(await startServer(env));
    servers.push(await startServer(env));
    // Both replicas commit events, so both are woken and claim at once.
    const posts = [];
    for (let i = 0; i < 60; i++) {
      const s = servers[i % 2];
      const id = randomUUID();
      posts.push(post(s, '/api/v1/lineage/batch', [runEvent('START', id, `replica_${i}`, 0), runEvent('COMPLETE', id, `replica_${i}`, 5)]));
    }
    for (const r of await Promise.all(posts)) assert.equal(r.status, 200, r.text);
    const stored = await waitAllDelivered(servers[0], coll, 60000);
    assert.equal(stored.length, 120);
    assertExactlyOnce(coll, stored);
    assertPerRunOrder(coll);
    const d0 = (await deliveryStats(servers[0])).delivered, d1 = (await deliveryStats(servers[1])).delivered;
    assert.equal(d0 + d1, 120, `delivered by replica 0: ${d0}, replica 1: ${d1}`);
  });
});
