// The worker pool: overload answers 503 + Retry-After; HTTP threads never wait on workers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectError, fetchJson, request, sleep, stopsCleanly, useServer } from './lib/server.js';

describe('worker pool overload', () => {
  const ctx = useServer({ DEBUG: 'true', WORKER_THREADS: '1', WORKER_QUEUE_SIZE: '1' });

  it('6 concurrent sleeps on 1 thread + 1 queue slot: some 200, some 503 overloaded', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, () => request(ctx.server.url('/debug/sleep?ms=800'), { timeout: 20000 }))
    );
    const ok = results.filter((r) => r.status === 200);
    const over = results.filter((r) => r.status === 503);
    const summary = results.map((r) => r.status).join(',');
    assert.equal(ok.length + over.length, 6, `statuses: ${summary}`);
    assert.ok(ok.length >= 1, `some 200: ${summary}`);
    assert.ok(ok.length <= 2, `at most thread + queue slot succeed: ${summary}`);
    assert.ok(over.length >= 4, `some 503: ${summary}`);
    for (const r of ok) assert.equal(r.json?.slept_ms, 800);
    for (const r of over) {
      expectError(assert, r, 503, 'overloaded');
      assert.ok(r.headers['retry-after'], 'Retry-After header');
      assert.match(r.headers['retry-after'], /^\d+$/, `Retry-After: ${r.headers['retry-after']}`);
    }
  });

  it('/health reports the pool', async () => {
    const r = await fetchJson(ctx.server.url('/health'));
    assert.equal(r.json?.checks?.worker_pool?.threads, 1, r.text);
    assert.equal(r.json?.checks?.worker_pool?.queue_capacity, 1, r.text);
  });

  it('the pool recovers once the sleeps end', async () => {
    const r = await fetchJson(ctx.server.url('/debug/sleep?ms=10'));
    assert.equal(r.status, 200, r.text);
  });

  stopsCleanly(ctx);
});

describe('HTTP threads are not blocked by workers', () => {
  const ctx = useServer({ DEBUG: 'true', WORKER_THREADS: '1', WORKER_QUEUE_SIZE: '1' });

  it('GET / and GET /health/live answer fast while the only worker sleeps', async () => {
    // warm up connections / code paths
    await request(ctx.server.url('/'));
    // The only worker sleeps, then the one queue slot is taken too: the pool is full.
    const sleeping = request(ctx.server.url('/debug/sleep?ms=1500'), { timeout: 20000 });
    await sleep(150);
    const queued = request(ctx.server.url('/debug/sleep?ms=100'), { timeout: 20000 });
    await sleep(100);
    for (const p of ['/', '/health/live', '/', '/health/live']) {
      const t0 = performance.now();
      const r = await request(ctx.server.url(p));
      const ms = performance.now() - t0;
      assert.equal(r.status, 200, `${p}: ${r.status} ${r.text}`);
      assert.ok(ms < 200, `${p} took ${ms.toFixed(1)} ms while the worker sleeps`);
    }
    const s = await sleeping;
    assert.equal(s.status, 200, `the sleeping request: ${s.status} ${s.text}`);
    const q = await queued;
    assert.equal(q.status, 200, `the queued request (1 thread busy, 1 queue slot free): ${q.status} ${q.text}`);
  });

  it('/health while busy reports busy workers', async () => {
    const sleeping = request(ctx.server.url('/debug/sleep?ms=1500'), { timeout: 20000 });
    // /health must answer while the only worker is busy (a 503 overloaded is not acceptable
    // for a health check), and show the busy worker once the sleep has reached it (slow
    // sanitizer builds take a while to get there).
    let r;
    for (let i = 0; i < 10; i++) {
      await sleep(100);
      r = await fetchJson(ctx.server.url('/health'), { timeoutMs: 5000 });
      assert.equal(r.status, 200, r.text);
      if (r.json.checks.worker_pool.busy === 1) break;
    }
    assert.equal(r.json.checks.worker_pool.busy, 1, r.text);
    assert.equal((await sleeping).status, 200);
  });

  stopsCleanly(ctx);
});
