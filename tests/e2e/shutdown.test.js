// Graceful shutdown on SIGTERM: in-flight requests finish, new ones are refused, exit 0.
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { request, sleep, startServer } from './lib/server.js';

describe('graceful shutdown', () => {
  it('SIGTERM: the in-flight request completes, new connections are refused or 503, exit 0', async (t) => {
    const srv = await startServer({ DEBUG: 'true' });
    t.after(() => srv.kill());

    // A keep-alive connection opened before SIGTERM, to ask /health/ready on it afterwards.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const warm = await request(srv.url('/health/ready'), { agent });
    assert.equal(warm.status, 200);

    const t0 = Date.now();
    const inflight = request(srv.url('/debug/sleep?ms=1500'), { timeout: 20000 });
    await sleep(200);
    const tSig = Date.now();
    srv.signal('SIGTERM');
    await sleep(150);

    // A new connection while the server drains.
    let fresh;
    try {
      fresh = await request(srv.url('/health/live'), { timeout: 3000 });
    } catch (e) {
      fresh = { error: e };
    }
    if (fresh.error) {
      assert.ok(
        ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(fresh.error.code),
        `new connection after SIGTERM: ${fresh.error.code || fresh.error.message}`
      );
    } else {
      assert.equal(fresh.status, 503, `new request after SIGTERM answered ${fresh.status}: ${fresh.text}`);
    }

    // Readiness on the old connection, if the server still serves it, says not ready.
    try {
      const ready = await request(srv.url('/health/ready'), { agent, timeout: 3000 });
      assert.equal(ready.status, 503, `/health/ready while shutting down: ${ready.status} ${ready.text}`);
    } catch (e) {
      // the server closed idle connections: fine
    }

    const r = await inflight;
    assert.equal(r.status, 200, `in-flight request: ${r.status} ${r.text}`);
    assert.equal(r.json?.slept_ms, 1500);
    assert.ok(Date.now() - t0 >= 1450);

    const res = await srv.stop(8000);
    const took = Date.now() - tSig;
    srv.assertSanitizerClean();
    assert.deepEqual(res, { code: 0, signal: null }, `exit after SIGTERM\n${srv.tail()}`);
    assert.ok(took < 6000, `exited ${took} ms after SIGTERM`);
  });

  it('SIGTERM while a paused client holds a long stream: cut after the grace period, exit 0', async (t) => {
    // the stream is in flight: the server waits SHUTDOWN_GRACE_PERIOD for it, then cuts it
    const srv = await startServer({ DEBUG: 'true', SHUTDOWN_GRACE_PERIOD: '1' });
    t.after(() => srv.kill());
    // 1 GiB that the client stops reading after 2 MiB: the worker is then writing to the
    // socket itself (past 256 KiB) and waits for room when SIGTERM comes.
    let res;
    let got = 0;
    let hold = true;
    const ended = new Promise((resolve) => {
      const req = http.get(srv.url('/debug/stream?chunks=16384&size=65536'), { agent: false }, (r) => {
        res = r;
        r.on('data', (c) => {
          got += c.length;
          if (hold && got > 2 << 20) r.pause();
        });
        r.on('end', () => resolve(r.complete ? 'end' : 'cut'));
        r.on('error', () => resolve('error'));
        r.on('close', () => resolve(r.complete ? 'end' : 'cut'));
      });
      req.on('error', () => resolve('error'));
    });
    while (got <= 2 << 20) await sleep(50);
    await sleep(300);
    const t0 = Date.now();
    srv.signal('SIGTERM');
    const code = await srv.stop(10000);
    const took = Date.now() - t0;
    hold = false;
    res.resume();
    const how = await Promise.race([ended, sleep(5000).then(() => 'hung')]);
    srv.assertSanitizerClean();
    assert.deepEqual(code, { code: 0, signal: null }, `exit after SIGTERM\n${srv.tail()}`);
    assert.ok(took >= 900 && took < 6000, `exited ${took} ms after SIGTERM`);
    assert.ok(got < 16384 * 65536, 'the stream did not complete');
    assert.notEqual(how, 'hung', 'the client saw the stream end');
    assert.notEqual(how, 'end', 'a cut stream must not look complete');
  });

  it('SIGTERM on an idle server exits 0 promptly', async (t) => {
    const srv = await startServer();
    t.after(() => srv.kill());
    const t0 = Date.now();
    const res = await srv.stop(8000);
    srv.assertSanitizerClean();
    assert.deepEqual(res, { code: 0, signal: null }, srv.tail());
    assert.ok(Date.now() - t0 < 3000, `exited after ${Date.now() - t0} ms`);
  });

  it('SIGINT also shuts down cleanly', async (t) => {
    const srv = await startServer();
    t.after(() => srv.kill());
    srv.signal('SIGINT');
    const res = await Promise.race([srv.exited, sleep(8000).then(() => null)]);
    assert.ok(res, 'exited within 8 s of SIGINT');
    await srv.stop();
    srv.assertSanitizerClean();
    assert.deepEqual(res, { code: 0, signal: null }, srv.tail());
  });
});
