// /events across replicas: two servers on ONE PostgreSQL schema relay their events through
// LISTEN/NOTIFY (events/relay.h). PostgreSQL mode only.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import { BACKEND, fetchJson, sleep, startServer } from './lib/server.js';

const skip = BACKEND !== 'postgres' ? 'fan-out across replicas needs PostgreSQL (run scripts/run-e2e.sh postgres)' : false;

function listen(url) {
  const es = new EventSource(url);
  const got = [];
  for (const type of ['connected', 'reset', 'lineage_event', 'job_status', 'error']) {
    es.addEventListener(type, (e) => got.push({ type, id: e.lastEventId, data: JSON.parse(e.data) }));
  }
  return {
    es,
    got,
    async waitFor(pred, timeoutMs = 8000, what = 'event') {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const hit = got.find(pred);
        if (hit) return hit;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(got.map((g) => g.type))}`);
        await sleep(20);
      }
    },
    close: () => es.close(),
  };
}

async function broadcast(server, event_type, data, extra = {}) {
  const r = await fetchJson(server.url('/events/broadcast'), { method: 'POST', json: { event_type, data, ...extra } });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function relayStats(server) {
  const r = await fetchJson(server.url('/events/stats?clients=false'));
  assert.equal(r.status, 200, r.text);
  return r.json.relay;
}

async function waitListening(server) {
  const end = Date.now() + 10000;
  for (;;) {
    const rs = await relayStats(server);
    if (rs?.listening) return rs;
    if (Date.now() > end) throw new Error(`relay of ${server.url()} not listening: ${JSON.stringify(rs)}`);
    await sleep(50);
  }
}

describe('events: fan-out across replicas (PostgreSQL LISTEN/NOTIFY)', { skip }, () => {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const env = { DB_POSTGRES_SCHEMA: schema, SSE_HEARTBEAT_INTERVAL: '0', SSE_PING_INTERVAL: '0', SSE_METRICS_INTERVAL: '0' };
  let a, b, other;

  before(async () => {
    a = await startServer(env);
    b = await startServer(env);
    // A third server on another schema of the same database must hear nothing.
    other = await startServer({ ...env, DB_POSTGRES_SCHEMA: `${schema}_x` });
    await Promise.all([waitListening(a), waitListening(b), waitListening(other)]);
  });

  after(async () => {
    for (const s of [a, b, other]) {
      if (!s) continue;
      const res = await s.stop();
      s.assertSanitizerClean();
      assert.deepEqual(res, { code: 0, signal: null }, s.tail());
    }
  });

  it('a broadcast on A reaches an EventSource client of B (and not A twice, nor another schema)', async () => {
    const onB = listen(b.url('/events/stream?events=job_status'));
    const onA = listen(a.url('/events/stream?events=job_status'));
    const onOther = listen(other.url('/events/stream?events=job_status'));
    try {
      await Promise.all([onA, onB, onOther].map((l) => l.waitFor((g) => g.type === 'connected')));
      const tag = `replica-${randomBytes(4).toString('hex')}`;
      await broadcast(a, 'job_status', { job_name: tag, status: 'running', progress: 42 });
      const ev = await onB.waitFor((g) => g.type === 'job_status' && g.data.data.job_name === tag, 8000, 'the relayed event on B');
      assert.equal(ev.data.data.progress, 42);
      assert.match(ev.id, /^\d+$/, 'numbered by B');
      await onA.waitFor((g) => g.type === 'job_status' && g.data.data.job_name === tag, 3000, 'the event on A');
      await sleep(500);
      assert.equal(onA.got.filter((g) => g.data?.data?.job_name === tag).length, 1, 'no echo on A');
      assert.equal(onB.got.filter((g) => g.data?.data?.job_name === tag).length, 1, 'once on B');
      assert.equal(onOther.got.filter((g) => g.data?.data?.job_name === tag).length, 0, 'not on another schema');
      const ra = await relayStats(a);
      assert.ok(ra.sent >= 1, JSON.stringify(ra));
      assert.ok(ra.echo_ignored >= 1, JSON.stringify(ra));
    } finally {
      onA.close();
      onB.close();
      onOther.close();
    }
  });

  it('order per origin is kept, a large event (over 8000 bytes) arrives whole, and replay on B is gap-free', async () => {
    const onB = listen(b.url('/events/stream?events=job_status'));
    try {
      await onB.waitFor((g) => g.type === 'connected');
      const run = randomBytes(4).toString('hex');
      const big = 'é€x'.repeat(9000); // ~54 KB of multi-byte text: several NOTIFY parts
      const n = 30;
      for (let i = 0; i < n; i++) {
        const data = { job_name: `order-${run}`, seq: i };
        if (i === 10) data.blob = big;
        await broadcast(a, 'job_status', data);
      }
      const mine = () => onB.got.filter((g) => g.type === 'job_status' && g.data.data.job_name === `order-${run}`);
      const end = Date.now() + 10000;
      while (mine().length < n && Date.now() < end) await sleep(25);
      const seen = mine();
      assert.deepEqual(seen.map((g) => g.data.data.seq), [...Array(n).keys()], 'in publication order, none missing');
      assert.equal(seen[10].data.data.blob, big, 'the large event arrived byte-exact');
      const ids = seen.map((g) => BigInt(g.id));
      for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], 'B numbers them in order');

      // Reconnect to B after the 5th with Last-Event-ID: exactly the rest, from B's history.
      const replay = listen(b.url(`/events/stream?events=job_status&last_event_id=${seen[4].id}`));
      try {
        const want = n - 5;
        const end2 = Date.now() + 5000;
        const got = () => replay.got.filter((g) => g.type === 'job_status' && g.data.data.job_name === `order-${run}`);
        while (got().length < want && Date.now() < end2) await sleep(25);
        await sleep(200);
        assert.deepEqual(got().map((g) => g.data.data.seq), [...Array(want).keys()].map((i) => i + 5));
        assert.equal(replay.got.filter((g) => g.type === 'reset').length, 0);
      } finally {
        replay.close();
      }
      const rb = await relayStats(b);
      assert.equal(rb.gaps, 0, JSON.stringify(rb));
    } finally {
      onB.close();
    }
  });

  it('a client of B targeted from A by id gets the event; events flow B to A as well', async () => {
    const onB = listen(b.url('/events/stream'));
    const onA = listen(a.url('/events/stream?events=lineage_event'));
    try {
      await Promise.all([onB, onA].map((l) => l.waitFor((g) => g.type === 'connected')));
      const cid = onB.got.find((g) => g.type === 'connected').data.data.client_id;
      const r = await broadcast(a, 'error', { message: 'just for you' }, { target_clients: [cid] });
      assert.equal(r.delivered_to, 0, 'no such client on A');
      const ev = await onB.waitFor((g) => g.type === 'error' && g.data.data.message === 'just for you');
      assert.ok(ev);
      await broadcast(b, 'lineage_event', { status: 'completed', job_name: 'from-b' });
      await onA.waitFor((g) => g.type === 'lineage_event' && g.data.data.job_name === 'from-b', 8000, 'B to A');
    } finally {
      onA.close();
      onB.close();
    }
  });
});
