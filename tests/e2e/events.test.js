// /events: Server-Sent Event streams (with the npm `eventsource` client, as a browser would
// connect), replay, filters, management endpoints, limits, slow readers and zombie rules.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import { expectError, fetchJson, request, sleep, stopsCleanly, useServer } from './lib/server.js';

const TYPES = ['lineage_event', 'job_status', 'queue_status', 'system_metric', 'error', 'heartbeat', 'ping'];

/** An EventSource that records every named event: {type, id, data (parsed), t}. */
function listen(url, opts = {}) {
  const es = new EventSource(url, opts);
  const got = [];
  const ids = { connects: 0 };
  for (const type of ['connected', 'reset', ...TYPES]) {
    es.addEventListener(type, (e) => {
      let data = null;
      try {
        data = JSON.parse(e.data);
      } catch {
        data = e.data;
      }
      if (type === 'connected') ids.connects++;
      got.push({ type, id: e.lastEventId, data, t: Date.now() });
    });
  }
  const errors = [];
  es.onerror = (e) => errors.push(e);
  return {
    es,
    got,
    errors,
    stats: ids,
    of(type) {
      return got.filter((g) => g.type === type);
    },
    get clientId() {
      const c = got.filter((g) => g.type === 'connected').at(-1);
      return c?.data?.data?.client_id;
    },
    async waitFor(pred, timeoutMs = 5000, what = 'event') {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const hit = got.find(pred);
        if (hit) return hit;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(got.map((g) => g.type))}`);
        await sleep(20);
      }
    },
    close() {
      es.close();
    },
  };
}

async function broadcast(ctx, eventType, data, extra = {}) {
  const r = await fetchJson(ctx.server.url('/events/broadcast'), {
    method: 'POST',
    json: { event_type: eventType, data, ...extra },
  });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function stats(ctx) {
  const r = await fetchJson(ctx.server.url('/events/stats'));
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function waitUntil(fn, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

/** A raw connection to a stream: {sock, text(), ended, close()}; reading can be paused. */
function rawStream(ctx, path, { localAddress, read = true } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port: ctx.server.port, localAddress });
    const chunks = [];
    const st = { sock, ended: false, bytes: 0 };
    sock.on('error', () => {
      st.ended = true;
    });
    sock.on('close', () => {
      st.ended = true;
    });
    sock.on('data', (c) => {
      chunks.push(c);
      st.bytes += c.length;
    });
    st.text = () => Buffer.concat(chunks).toString('utf8');
    st.close = () => sock.destroy();
    sock.on('connect', () => {
      sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`);
      if (!read) sock.pause();
      resolve(st);
    });
    sock.on('error', reject);
  });
}

describe('events: streams, filters and replay', () => {
  const ctx = useServer({ SSE_HEARTBEAT_INTERVAL: '1', SSE_PING_INTERVAL: '0', SSE_HISTORY_SIZE: '20', SSE_RETRY_MS: '300' });

  it('headers, retry: and a comment first, then connected with the client id', async () => {
    const res = await new Promise((resolve, reject) => {
      http.get(ctx.server.url('/events/stream'), { agent: false }, resolve).on('error', reject);
    });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'], /^text\/event-stream/);
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.equal(res.headers['x-accel-buffering'], 'no');
    let text = '';
    res.setEncoding('utf8');
    await new Promise((resolve) => {
      res.on('data', (c) => {
        text += c;
        if (text.includes('event: connected') && text.includes('\n\n', text.indexOf('event: connected'))) resolve();
      });
    });
    res.destroy();
    assert.match(text, /^retry: 300\n:[^\n]*\n\n/);
    const frame = text.slice(text.indexOf('event: connected'));
    assert.doesNotMatch(frame.split('\n\n')[0], /^id:/m, 'connected carries no id (it must not move the replay cursor)');
    const data = JSON.parse(/^data: (.*)$/m.exec(frame)[1]);
    assert.equal(typeof data.timestamp, 'number');
    assert.match(data.data.client_id, /^[0-9a-f-]{36}$/);
    assert.equal(data.data.client_id, res.headers['x-sse-client-id']);
  });

  it('no filter means every type; ?events= narrows; heartbeats carry data', async () => {
    const all = listen(ctx.server.url('/events/stream'));
    const jobs = listen(ctx.server.url('/events/stream?events=job_status,error'));
    try {
      await all.waitFor((g) => g.type === 'connected');
      await jobs.waitFor((g) => g.type === 'connected');
      for (const t of ['lineage_event', 'job_status', 'queue_status', 'system_metric', 'error'])
        await broadcast(ctx, t, { kind: t });
      await all.waitFor((g) => g.type === 'error');
      await jobs.waitFor((g) => g.type === 'error');
      assert.deepEqual(
        all.got.filter((g) => g.data?.data?.kind).map((g) => g.type),
        ['lineage_event', 'job_status', 'queue_status', 'system_metric', 'error']
      );
      assert.deepEqual(
        jobs.got.filter((g) => g.data?.data?.kind).map((g) => g.type),
        ['job_status', 'error']
      );
      const ev = all.of('job_status')[0];
      assert.match(ev.id, /^\d+$/);
      assert.deepEqual(ev.data.data, { kind: 'job_status' });
      const hb = await all.waitFor((g) => g.type === 'heartbeat', 3000, 'heartbeat');
      assert.equal(typeof hb.data.data.timestamp, 'number');
      assert.equal(hb.id, '', 'a heartbeat has no id (the last event id stays as it was)');
    } finally {
      all.close();
      jobs.close();
    }
  });

  it('unknown event type in ?events= is a 400', async () => {
    const r = await fetchJson(ctx.server.url('/events/stream?events=job_status,nope'));
    expectError(assert, r, 400, 'invalid_event_type');
  });

  it('/events/lineage, /events/jobs and /events/metrics carry their own types', async () => {
    const want = {
      lineage: ['lineage_event', 'error'],
      jobs: ['job_status', 'error'],
      metrics: ['queue_status', 'system_metric', 'error'],
    };
    const ls = Object.fromEntries(Object.keys(want).map((k) => [k, listen(ctx.server.url(`/events/${k}`))]));
    try {
      for (const l of Object.values(ls)) await l.waitFor((g) => g.type === 'connected');
      for (const t of ['lineage_event', 'job_status', 'queue_status', 'system_metric', 'error'])
        await broadcast(ctx, t, { kind: t });
      for (const [k, l] of Object.entries(ls)) {
        await l.waitFor((g) => g.type === 'error');
        const seen = l.got.filter((g) => g.data?.data?.kind).map((g) => g.type).sort();
        assert.deepEqual(seen, want[k].slice().sort(), k);
      }
    } finally {
      for (const l of Object.values(ls)) l.close();
    }
  });

  it('filters by job, run and namespace', async () => {
    const byJob = listen(ctx.server.url('/events/stream?job=etl'));
    const byRun = listen(ctx.server.url('/events/jobs?run_id=r2'));
    const byNs = listen(ctx.server.url('/events/stream?namespace=prod'));
    try {
      for (const l of [byJob, byRun, byNs]) await l.waitFor((g) => g.type === 'connected');
      await broadcast(ctx, 'job_status', { job_name: 'etl', run_id: 'r1', status: 'running', n: 1 });
      await broadcast(ctx, 'job_status', { job_name: 'other', run_id: 'r2', status: 'running', n: 2 });
      await broadcast(ctx, 'lineage_event', { job_name: 'x', run_id: 'r3', metadata: { namespace: 'prod' }, n: 3 });
      await broadcast(ctx, 'error', { n: 4, job_name: 'etl' });
      await byJob.waitFor((g) => g.data?.data?.n === 4);
      await sleep(200);
      const ns = (l) => l.got.filter((g) => g.data?.data?.n).map((g) => g.data.data.n);
      assert.deepEqual(ns(byJob), [1, 4]);
      assert.deepEqual(ns(byRun), [2]);
      assert.deepEqual(ns(byNs), [3]);
    } finally {
      for (const l of [byJob, byRun, byNs]) l.close();
    }
  });

  it('replay after a dropped connection: Last-Event-ID gives exactly what was missed', async () => {
    const l = listen(ctx.server.url('/events/stream?events=system_metric'));
    const total = 40;
    try {
      await l.waitFor((g) => g.type === 'connected');
      // Publish steadily; halfway through the server drops the stream (DELETE). The client
      // reconnects on its own with Last-Event-ID; events published meanwhile come as replay.
      for (let i = 0; i < total; i++) {
        await broadcast(ctx, 'system_metric', { seq: i });
        if (i === total / 2) {
          const r = await fetchJson(ctx.server.url(`/events/clients/${l.clientId}`), { method: 'DELETE' });
          assert.equal(r.status, 200, r.text);
        }
        await sleep(15);
      }
      await l.waitFor((g) => g.data?.data?.seq === total - 1, 5000, 'the last event');
      assert.ok(l.stats.connects >= 2, 'the client reconnected');
      assert.equal(l.of('reset').length, 0, 'no reset: history covered the gap');
      const seqs = l.of('system_metric').map((g) => g.data.data.seq);
      assert.deepEqual(seqs, [...Array(total).keys()], 'no gap, no duplicate');
      const ids = l.of('system_metric').map((g) => BigInt(g.id));
      for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], 'ids increase');
    } finally {
      l.close();
    }
  });

  it('first connection with ?last_event_id= replays, then goes live', async () => {
    const first = await broadcast(ctx, 'queue_status', { seq: 'a' });
    await broadcast(ctx, 'queue_status', { seq: 'b' });
    await broadcast(ctx, 'queue_status', { seq: 'c' });
    const l = listen(ctx.server.url(`/events/metrics?last_event_id=${first.event_id}`));
    try {
      await l.waitFor((g) => g.data?.data?.seq === 'c');
      await broadcast(ctx, 'queue_status', { seq: 'd' });
      await l.waitFor((g) => g.data?.data?.seq === 'd');
      assert.deepEqual(l.of('queue_status').map((g) => g.data.data.seq), ['b', 'c', 'd']);
    } finally {
      l.close();
    }
  });

  it('a too-old Last-Event-ID gets a reset event numbered with the newest id', async () => {
    const first = await broadcast(ctx, 'error', { seq: 0 });
    let last;
    for (let i = 1; i <= 25; i++) last = await broadcast(ctx, 'error', { seq: i }); // history is 20
    const l = listen(ctx.server.url('/events/stream'), {
      fetch: (url, init) => fetch(url, { ...init, headers: { ...init.headers, 'Last-Event-ID': first.event_id } }),
    });
    try {
      const reset = await l.waitFor((g) => g.type === 'reset');
      assert.equal(reset.data.data.reason, 'history_exhausted');
      assert.equal(reset.id, last.event_id);
      assert.equal(l.of('error').length, 0, 'nothing replayed after a reset');
    } finally {
      l.close();
    }
  });

  it('the test page is self-contained HTML', async () => {
    const r = await request(ctx.server.url('/events/test'));
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/html/);
    assert.match(r.text, /new EventSource\(/);
    assert.match(r.text, /\/events\/broadcast/);
    assert.doesNotMatch(r.text, /(src|href)=["']?(https?:)?\/\//i, 'no external assets');
  });

  stopsCleanly(ctx);
});

describe('events: management endpoints', () => {
  const ctx = useServer({ SSE_HEARTBEAT_INTERVAL: '0', SSE_PING_INTERVAL: '0.3', SSE_RETRY_MS: '300' });

  it('stats list clients with the seed fields', async () => {
    const l = listen(ctx.server.url('/events/stream?events=job_status'));
    try {
      await l.waitFor((g) => g.type === 'connected');
      const s = await stats(ctx);
      for (const k of ['connected_clients', 'healthy_clients', 'zombie_clients', 'event_history_size', 'zombie_detection', 'clients'])
        assert.ok(k in s, k);
      const me = s.clients.find((c) => c.client_id === l.clientId);
      assert.ok(me, 'the client is listed');
      for (const k of ['subscriptions', 'queue_size', 'connected_duration', 'last_ping', 'last_pong', 'ping_count',
        'missed_pings', 'queue_full_count', 'write_errors', 'is_zombie', 'zombie_detected_at', 'connection_healthy'])
        assert.ok(k in me, k);
      assert.ok(me.subscriptions.includes('job_status'));
      const slim = await fetchJson(ctx.server.url('/events/stats?clients=false'));
      assert.equal(slim.json.clients, undefined);
    } finally {
      l.close();
    }
  });

  it('broadcast: 400 for an unknown or missing type, query form accepted, targeted delivery', async () => {
    expectError(assert, await fetchJson(ctx.server.url('/events/broadcast'), { method: 'POST', json: { event_type: 'bogus', data: {} } }), 400, 'invalid_event_type');
    expectError(assert, await fetchJson(ctx.server.url('/events/broadcast'), { method: 'POST', json: { data: {} } }), 400, 'invalid_event_type');
    const q = await fetchJson(ctx.server.url('/events/broadcast?event_type=error'), { method: 'POST', json: { data: { via: 'query' } } });
    assert.equal(q.status, 200, q.text);
    assert.match(q.json.event_id, /^\d+$/);
    const a = listen(ctx.server.url('/events/stream?events=error'));
    const b = listen(ctx.server.url('/events/stream?events=error'));
    try {
      await a.waitFor((g) => g.type === 'connected');
      await b.waitFor((g) => g.type === 'connected');
      const r = await broadcast(ctx, 'error', { only: 'a' }, { target_clients: [a.clientId, 'nobody'] });
      assert.equal(r.delivered_to, 1);
      await a.waitFor((g) => g.data?.data?.only === 'a');
      await sleep(200);
      assert.equal(b.got.filter((g) => g.data?.data?.only).length, 0);
    } finally {
      a.close();
      b.close();
    }
  });

  it('DELETE /events/clients/{id} ends that stream at once; 404 when unknown', async () => {
    const s = await rawStream(ctx, '/events/stream');
    await waitUntil(() => s.text().includes('event: connected'), 3000, 'connected');
    const id = /"client_id":"([0-9a-f-]{36})"/.exec(s.text())[1];
    const t0 = Date.now();
    const r = await fetchJson(ctx.server.url(`/events/clients/${id}`), { method: 'DELETE' });
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.message, /disconnected successfully/);
    // The chunked body is terminated (0\r\n\r\n) right away.
    await waitUntil(() => s.text().endsWith('0\r\n\r\n') || s.ended, 2000, 'the stream to end');
    assert.ok(Date.now() - t0 < 2000);
    s.close();
    const s2 = await stats(ctx);
    assert.ok(!s2.clients.some((c) => c.client_id === id));
    expectError(assert, await fetchJson(ctx.server.url(`/events/clients/${id}`), { method: 'DELETE' }), 404, 'not_found');
  });

  it('pong by query parameters or JSON body; 404 unknown; 400 without client_id', async () => {
    const l = listen(ctx.server.url('/events/stream?events=ping'));
    try {
      const ping = await l.waitFor((g) => g.type === 'ping', 3000, 'ping');
      assert.equal(ping.data.data.client_id, l.clientId);
      assert.equal(ping.data.data.expected_pong, true);
      const q = await fetchJson(ctx.server.url(`/events/pong?client_id=${l.clientId}&ping_id=${ping.data.data.ping_id}`), { method: 'POST' });
      assert.equal(q.status, 200, q.text);
      assert.equal(q.json.message, 'Pong received successfully');
      const j = await fetchJson(ctx.server.url('/events/pong'), { method: 'POST', json: { client_id: l.clientId } });
      assert.equal(j.status, 200, j.text);
      const me = (await stats(ctx)).clients.find((c) => c.client_id === l.clientId);
      assert.equal(typeof me.last_pong, 'number');
      expectError(assert, await fetchJson(ctx.server.url('/events/pong?client_id=nobody'), { method: 'POST' }), 404, 'not_found');
      expectError(assert, await fetchJson(ctx.server.url('/events/pong'), { method: 'POST' }), 400, 'validation_error');
    } finally {
      l.close();
    }
  });

  it('zombies and cleanup have the seed shapes', async () => {
    const z = await fetchJson(ctx.server.url('/events/zombies'));
    assert.equal(z.status, 200);
    for (const k of ['current_zombies', 'total_detected', 'detection_reasons', 'last_cleanup', 'zombie_details']) assert.ok(k in z.json, k);
    const c = await fetchJson(ctx.server.url('/events/zombies/cleanup'), { method: 'POST' });
    assert.equal(c.status, 200);
    for (const k of ['message', 'zombies_before', 'zombies_removed']) assert.ok(k in c.json, k);
  });

  stopsCleanly(ctx);
});

describe('events: connection limits', () => {
  const ctx = useServer({ SSE_MAX_CLIENTS: '3', SSE_MAX_CLIENTS_PER_IP: '2', SSE_HEARTBEAT_INTERVAL: '0.5', SSE_PING_INTERVAL: '0' });

  async function status(localAddress) {
    const s = await rawStream(ctx, '/events/stream', { localAddress });
    await waitUntil(() => /\r\n\r\n/.test(s.text()), 3000, 'response headers');
    return { s, status: Number(/^HTTP\/1\.1 (\d+)/.exec(s.text())[1]) };
  }

  it('429 per address and in total, before the stream starts; slots free on close', async () => {
    const a1 = await status('127.0.0.1');
    const a2 = await status('127.0.0.1');
    const a3 = await status('127.0.0.1');
    assert.deepEqual([a1.status, a2.status, a3.status], [200, 200, 429]);
    assert.match(a3.s.text(), /"error":"too_many_clients"/);
    const b1 = await status('127.0.0.2');
    assert.equal(b1.status, 200);
    const c1 = await status('127.0.0.3');
    assert.equal(c1.status, 429, 'total limit');
    for (const x of [a1, a2, a3, b1, c1]) x.s.close();
    // Hung-up clients are noticed without any event being sent to them.
    await waitUntil(async () => (await stats(ctx)).connected_clients === 0, 3000, 'clients released');
    const again = await status('127.0.0.3');
    assert.equal(again.status, 200);
    again.s.close();
  });

  stopsCleanly(ctx);
});

describe('events: a slow reader is dropped, a fast one keeps receiving', () => {
  const ctx = useServer({ SSE_CLIENT_QUEUE_BYTES: '256K', SSE_HEARTBEAT_INTERVAL: '0', SSE_PING_INTERVAL: '0' });

  it('slow raw socket dropped (queue_overflow); the EventSource gets every event in time', async () => {
    const fast = listen(ctx.server.url('/events/stream?events=system_metric'));
    const slow = await rawStream(ctx, '/events/stream?events=system_metric', { read: false });
    await fast.waitFor((g) => g.type === 'connected');
    await waitUntil(async () => (await stats(ctx)).connected_clients === 2, 3000, 'two clients');
    const blob = 'x'.repeat(48 * 1024);
    const n = 600; // ~29 MB: more than the kernel buffers plus the 256 KiB queue
    let dropped = false;
    let i = 0;
    for (; i < n; i++) {
      await broadcast(ctx, 'system_metric', { seq: i, blob });
      if (i % 50 === 49) {
        const s = await stats(ctx);
        dropped = (s.disconnect_reasons.queue_overflow || 0) >= 1;
        if (dropped) break;
      }
    }
    assert.ok(dropped, 'the slow client was dropped for queue_overflow');
    const tPub = Date.now();
    await broadcast(ctx, 'system_metric', { seq: 'last' });
    const last = await fast.waitFor((g) => g.data?.data?.seq === 'last', 10000, 'the last event');
    assert.ok(last.t - tPub < 2000, `delivered ${last.t - tPub} ms after publication`);
    const seqs = fast.of('system_metric').map((g) => g.data.data.seq);
    assert.deepEqual(seqs, [...[...Array(i + 1).keys()].slice(0, i + 1), 'last']);
    const s = await stats(ctx);
    assert.equal(s.connected_clients, 1);
    slow.close();
    fast.close();
  });

  stopsCleanly(ctx);
});

describe('events: zombie rules (shortened thresholds)', () => {
  const ctx = useServer({
    SSE_HEARTBEAT_INTERVAL: '0',
    SSE_PING_INTERVAL: '0.25',
    SSE_ZOMBIE_CHECK_INTERVAL: '0.2',
    SSE_ZOMBIE_GRACE: '60',
    SSE_ZOMBIE_MAX_MISSED_PINGS: '2',
    SSE_ZOMBIE_MAX_WRITE_ERRORS: '3',
    SSE_ZOMBIE_PONG_TIMEOUT: '0.5',
    SSE_CLIENT_QUEUE_BYTES: '256M',
    SSE_CLIENT_QUEUE_EVENTS: '100000',
  });

  it('a plain EventSource that never pongs stays healthy', async () => {
    const l = listen(ctx.server.url('/events/stream'));
    try {
      await l.waitFor((g) => g.type === 'connected');
      await sleep(2000); // 8 pings, 4x the pong timeout
      const me = (await stats(ctx)).clients.find((c) => c.client_id === l.clientId);
      assert.ok(me.ping_count >= 4, `pings sent: ${me.ping_count}`);
      assert.equal(me.is_zombie, false);
      assert.equal(me.connection_healthy, true);
    } finally {
      l.close();
    }
  });

  it('a client that pongs and then stops is a zombie (missed_pings); cleanup ends it', async () => {
    const l = listen(ctx.server.url('/events/stream?events=ping'));
    try {
      const ping = await l.waitFor((g) => g.type === 'ping', 3000, 'ping');
      const r = await fetchJson(ctx.server.url('/events/pong'), { method: 'POST', json: { client_id: l.clientId, ping_id: ping.data.data.ping_id } });
      assert.equal(r.status, 200);
      const id = l.clientId;
      const z = await waitUntil(async () => {
        const j = (await fetchJson(ctx.server.url('/events/zombies'))).json;
        return j.zombie_details.find((d) => d.client_id === id) ? j : null;
      }, 5000, 'zombie listed');
      const d = z.zombie_details.find((x) => x.client_id === id);
      assert.equal(d.reason, 'missed_pings');
      assert.ok(d.missed_pings > 2);
      assert.ok(z.detection_reasons.missed_pings >= 1);
      const c = await fetchJson(ctx.server.url('/events/zombies/cleanup'), { method: 'POST' });
      assert.ok(c.json.zombies_removed >= 1);
      const s = await stats(ctx);
      assert.ok(!s.clients.some((x) => x.client_id === id));
      assert.ok(s.disconnect_reasons.zombie >= 1);
    } finally {
      l.close();
    }
  });

  it('a reader whose socket takes nothing is a zombie (write_errors)', async () => {
    const slow = await rawStream(ctx, '/events/stream?events=system_metric', { read: false });
    await waitUntil(async () => (await stats(ctx)).connected_clients >= 1, 3000, 'client');
    const blob = 'y'.repeat(64 * 1024);
    // Fill the kernel buffers so that bytes wait in the (large) queue, untaken.
    for (let i = 0; i < 300; i++) await broadcast(ctx, 'system_metric', { i, blob });
    const z = await waitUntil(async () => {
      const j = (await fetchJson(ctx.server.url('/events/zombies'))).json;
      return j.zombie_details.find((d) => d.reason === 'write_errors') ? j : null;
    }, 8000, 'write_errors zombie');
    const d = z.zombie_details.find((x) => x.reason === 'write_errors');
    assert.equal(d.connection_healthy, false);
    const c = await fetchJson(ctx.server.url('/events/zombies/cleanup'), { method: 'POST' });
    assert.ok(c.json.zombies_removed >= 1);
    assert.ok(!(await stats(ctx)).clients.some((x) => x.write_errors > 0), 'the zombie is gone');
    // The server has ended the connection: once the client reads again it reaches the end.
    slow.sock.resume();
    await waitUntil(() => slow.ended, 5000, 'the zombie socket to be closed');
  });

  stopsCleanly(ctx);
});

describe('events: producers (job runs, lineage ingest, samplers)', () => {
  const ctx = useServer({ SSE_HEARTBEAT_INTERVAL: '0', SSE_PING_INTERVAL: '0', SSE_METRICS_INTERVAL: '0.3' });

  it('a job run publishes job_status: starting, running, completing, completed with progress', async () => {
    const job = `sse_job_${Date.now()}`;
    const l = listen(ctx.server.url(`/events/jobs?job=${job}`));
    try {
      await l.waitFor((g) => g.type === 'connected');
      let r = await fetchJson(ctx.server.url('/jobs'), { method: 'POST', json: { name: job } });
      assert.ok(r.status < 300, r.text);
      r = await fetchJson(ctx.server.url(`/jobs/${job}/runs`), { method: 'POST', json: {} });
      assert.ok(r.status < 300, r.text);
      const runId = r.json.run_id;
      r = await fetchJson(ctx.server.url(`/jobs/${job}/runs/${runId}/complete`), { method: 'PUT', json: { success: true } });
      assert.ok(r.status < 300, r.text);
      await l.waitFor((g) => g.type === 'job_status' && g.data.data.status === 'completed', 5000, 'completed');
      const seen = l.of('job_status').map((g) => [g.data.data.status, g.data.data.progress]);
      assert.deepEqual(seen, [['starting', 0], ['running', 10], ['completing', 90], ['completed', 100]]);
      assert.ok(l.of('job_status').every((g) => /^\d+$/.test(g.id)), 'numbered');
      assert.equal(l.of('job_status')[3].data.data.run_id, runId);
    } finally {
      l.close();
    }
  });

  it('lineage ingest publishes lineage_event (filterable by namespace)', async () => {
    const ns = `sse_ns_${Date.now()}`;
    const l = listen(ctx.server.url(`/events/lineage?namespace=${ns}`));
    try {
      await l.waitFor((g) => g.type === 'connected');
      const ev = {
        eventType: 'START',
        eventTime: new Date().toISOString(),
        producer: 'https://github.com/OpenLineage/OpenLineage/tree/1.0.0/integration/test',
        schemaURL: 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent',
        run: { runId: '0190b3a4-1b2c-7d3e-8f40-123456789abc' },
        job: { namespace: ns, name: 'ingest' },
        inputs: [],
        outputs: [],
      };
      const r = await fetchJson(ctx.server.url('/api/v1/lineage'), { method: 'POST', json: ev });
      assert.ok(r.status < 300, r.text);
      const got = await l.waitFor((g) => g.type === 'lineage_event', 5000, 'lineage_event');
      assert.equal(got.data.data.status, 'completed');
      assert.equal(got.data.data.job_name, 'ingest');
      assert.equal(got.data.data.job_namespace, ns);
    } finally {
      l.close();
    }
  });

  it('the samplers publish queue_status and system_metric, unnumbered, to /events/metrics', async () => {
    const l = listen(ctx.server.url('/events/metrics'));
    try {
      await l.waitFor((g) => g.type === 'system_metric', 5000, 'system_metric');
      await l.waitFor((g) => g.type === 'queue_status', 5000, 'queue_status');
      const m = l.of('system_metric').at(-1).data.data;
      for (const k of ['cpu_percent', 'rss_bytes', 'requests_per_second', 'sse_clients', 'instance'])
        assert.ok(k in m, `system_metric.${k}: ${JSON.stringify(m)}`);
      assert.ok(m.rss_bytes > 1e6 && m.sse_clients >= 1);
      const q = l.of('queue_status').at(-1).data.data;
      for (const pool of ['data', 'control'])
        for (const k of ['depth', 'busy', 'threads', 'capacity']) assert.equal(typeof q.worker_pools[pool][k], 'number');
      assert.equal(typeof q.sse.clients, 'number');
      // Samples are unnumbered and never kept for replay: ids and history stay as they were.
      const before = await stats(ctx);
      const n = l.of('system_metric').length;
      await l.waitFor(() => l.of('system_metric').length >= n + 2, 5000, 'two more samples');
      const later = await stats(ctx);
      assert.equal(later.last_event_id, before.last_event_id);
      assert.equal(later.event_history_size, before.event_history_size);
    } finally {
      l.close();
    }
  });

  stopsCleanly(ctx);
});
