// Operations endpoints: /metrics (Prometheus), /metrics/memory, /metrics/performance,
// POST /metrics/gc, /config/* and POST /config/ducklake/reconnect; feature flags that really
// switch features off; no secret in any answer or log line.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { ASAN, BACKEND, VERSION, expectError, fetchJson, request, startServer, stopsCleanly, useServer } from './lib/server.js';

const tag = randomBytes(6).toString('hex');
const SECRETS = {
  STORAGE_MINIO_SECRET_KEY: `minio-Secret-${tag}-ops`,
  STORAGE_MINIO_ACCESS_KEY: `minio-Access-${tag}-ops`,
  MONITORING_OPENLINEAGE_API_KEY: `ol-ApiKey-${tag}-ops`,
  SECURITY_JWT_SECRET: `jwt-Secret-${tag}-ops`,
  SECURITY_SECRET_KEY: `server-Secret-${tag}-ops`,
  SECURITY_ENCRYPTION_KEY: `enc-Key-${tag}-ops`,
};
// In postgres mode the real password is needed to connect; in sqlite mode any value works.
if (BACKEND === 'sqlite') SECRETS.DB_POSTGRES_PASSWORD = `pg-Passw0rd-${tag}-ops`;

const havePromtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;

/** Parses the exposition text into {name{labels}: value}. */
function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    assert.ok(m, `exposition line parses: ${line}`);
    out.set(m[1] + (m[2] || ''), Number(m[3]));
  }
  return out;
}

async function scrape(s, path = '/metrics') {
  const r = await request(s.url(path));
  assert.equal(r.status, 200, r.text.slice(0, 300));
  return { text: r.text, map: parseMetrics(r.text), headers: r.headers };
}

function reqCount(map, route, status, method = 'GET') {
  return map.get(`dlb_http_requests_total{method="${method}",route="${route}",status="${status}"}`) || 0;
}

function threadsOf(pid) {
  const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^Threads:\s+(\d+)/m.exec(st)[1]);
}

describe('operations endpoints (every feature on, secrets configured)', () => {
  const ctx = useServer({
    ...SECRETS,
    DEBUG: 'true',
    LOG_LEVEL: 'DEBUG',
    LOG_ACCESS: 'true',
    MONITORING_SLOW_QUERY_THRESHOLD: '0.1',
    MONITORING_MEMORY_CHECK_INTERVAL: '1',
    MONITORING_HEALTH_CHECK_INTERVAL: '5',
  });
  const bodies = [];
  const keep = (what, r) => bodies.push([what, `${JSON.stringify(r.headers)}\n${r.text}`]);

  it('GET /metrics is valid Prometheus text with HELP/TYPE, units and build info', async () => {
    const s = ctx.server;
    const { text, map, headers } = await scrape(s);
    assert.match(headers['content-type'], /^text\/plain; version=0\.0\.4/);
    assert.ok(text.includes('# HELP dlb_http_requests_total '), 'HELP line');
    assert.ok(text.includes('# TYPE dlb_http_request_duration_seconds histogram'), 'TYPE line');
    assert.ok([...map.keys()].some((k) => k.startsWith(`dlb_build_info{version="${VERSION}",duckdb="v`)), 'build info');
    for (const name of [
      'dlb_process_resident_memory_bytes',
      'dlb_process_open_fds',
      'dlb_http_requests_in_flight',
      'dlb_worker_queue_depth{pool="data"}',
      'dlb_worker_queue_depth{pool="control"}',
      'dlb_worker_busy_threads{pool="control"}',
      `dlb_metadata_db_up{backend="${BACKEND === 'postgres' ? 'postgres' : 'sqlite'}"}`,
      'dlb_duckdb_state{state="running"}',
    ])
      assert.ok(map.has(name), `${name} present`);
    assert.ok(map.get('dlb_process_resident_memory_bytes') > 1e6);
    assert.ok(map.get('dlb_http_requests_in_flight') >= 1, 'the scrape itself is in flight');
    // Every metric name carries the dlb_ prefix.
    for (const k of map.keys()) assert.ok(k.startsWith('dlb_'), k);
    keep('GET /metrics', { headers, text });
  });

  it('counters and histograms move with traffic; unknown paths count as "unmatched"', async () => {
    const s = ctx.server;
    const before = (await scrape(s)).map;
    for (let i = 0; i < 5; i++) await request(s.url('/'));
    for (let i = 0; i < 3; i++) await request(s.url(`/no/such/${i}`));
    await request(s.url('/health/live'), { method: 'DELETE' });
    const after = (await scrape(s)).map;
    assert.equal(reqCount(after, '/', 200) - reqCount(before, '/', 200), 5);
    assert.equal(reqCount(after, 'unmatched', 404) - reqCount(before, 'unmatched', 404), 3);
    assert.equal(reqCount(after, 'unmatched', 405, 'DELETE') - reqCount(before, 'unmatched', 405, 'DELETE'), 1);
    const c = (m) => m.get('dlb_http_request_duration_seconds_count{method="GET",route="/"}') || 0;
    assert.equal(c(after) - c(before), 5);
    const inf = after.get('dlb_http_request_duration_seconds_bucket{method="GET",route="/",le="+Inf"}');
    assert.equal(inf, c(after), '+Inf bucket equals _count');
    assert.ok(after.get('dlb_http_request_duration_seconds_sum{method="GET",route="/"}') > 0);
    // The raw path never becomes a label.
    assert.ok(![...after.keys()].some((k) => k.includes('/no/such')), 'no raw path label');
  });

  it('slow requests (above MONITORING_SLOW_QUERY_THRESHOLD) are counted, listed and logged', async () => {
    const s = ctx.server;
    const before = (await scrape(s)).map.get('dlb_http_slow_requests_total');
    const r = await request(s.url('/debug/sleep?ms=250'), { headers: { 'X-Request-ID': `slow-${tag}` } });
    assert.equal(r.status, 200, r.text);
    const after = (await scrape(s)).map.get('dlb_http_slow_requests_total');
    assert.equal(after - before, 1);
    const perf = await fetchJson(s.url('/metrics/performance'));
    const hit = perf.json.slow_requests.find((x) => x.request_id === `slow-${tag}`);
    assert.ok(hit, JSON.stringify(perf.json.slow_requests));
    assert.equal(hit.what, 'GET /debug/sleep');
    assert.ok(hit.duration_ms >= 240);
    const line = await s.waitForLine((l) => l.json?.message === 'slow request' && l.json?.request_id === `slow-${tag}`, 3000);
    assert.ok(line, 'a "slow request" log line');
  });

  it('GET /metrics/performance: per-route counts, error rate and p50 <= p95 <= p99', async () => {
    const s = ctx.server;
    for (let i = 0; i < 20; i++) await request(s.url('/health/ready'));
    await request(s.url('/debug/sleep?ms=notanumber'));
    const r = await fetchJson(s.url('/metrics/performance'));
    keep('GET /metrics/performance', r);
    assert.equal(r.status, 200, r.text);
    const b = r.json;
    assert.equal(b.window_seconds, 300);
    assert.ok(b.requests.total_requests >= 20);
    assert.ok(b.requests.requests_per_second > 0);
    assert.ok(b.active_requests >= 1);
    const ready = b.routes.find((x) => x.name === 'GET /health/ready');
    assert.ok(ready, JSON.stringify(b.routes.map((x) => x.name)));
    assert.ok(ready.count >= 20);
    assert.equal(ready.errors, 0);
    assert.ok(ready.p50_ms > 0 && ready.p50_ms <= ready.p95_ms && ready.p95_ms <= ready.p99_ms && ready.p99_ms <= ready.max_ms);
    assert.ok(b.database.metadata_db, 'metadata database latency (scrapes and monitor ping it)');
    assert.equal(typeof b.throughput.requests_per_second, 'number');
  });

  it('GET /metrics/memory: RSS, window stats, allocator, components, thresholds', async () => {
    const s = ctx.server;
    await new Promise((res) => setTimeout(res, 1200)); // a second sample (interval 1 s)
    const r = await fetchJson(s.url('/metrics/memory'));
    keep('GET /metrics/memory', r);
    assert.equal(r.status, 200, r.text);
    const b = r.json;
    assert.ok(b.current.rss_mb > 1 && b.current.vms_mb >= b.current.rss_mb);
    assert.ok(b.current.thread_count >= 3 && b.current.open_files >= 3);
    assert.ok(b.current.available_mb > 0 && b.current.percent > 0);
    assert.ok(b.stats.samples >= 2, JSON.stringify(b.stats));
    assert.ok(b.stats.min_rss_mb <= b.stats.avg_rss_mb && b.stats.avg_rss_mb <= b.stats.max_rss_mb);
    assert.equal(typeof b.stats.growth_rate_mb_per_sec, 'number');
    // AddressSanitizer replaces malloc, so glibc's mallinfo2 has nothing to report there.
    if (!ASAN) assert.ok(b.allocator.in_use_bytes > 0);
    else assert.equal(typeof b.allocator.in_use_bytes, 'number');
    assert.equal(typeof b.components, 'object');
    assert.deepEqual(b.thresholds, { warning: 0.8, critical: 0.9 });
    assert.equal(b.status, 'ok');
  });

  it('POST /metrics/gc trims the allocator and reports memory before and after', async () => {
    const s = ctx.server;
    // Start DuckDB (via /health) so that its cache release is exercised too.
    await request(s.url('/health'));
    const r = await fetchJson(s.url('/metrics/gc'), { method: 'POST' });
    keep('POST /metrics/gc', r);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.memory_before_gc.rss_bytes > 0 && r.json.memory_after_gc.rss_bytes > 0);
    assert.equal(r.json.released_bytes, r.json.memory_before_gc.rss_bytes - r.json.memory_after_gc.rss_bytes);
    assert.equal(typeof r.json.allocator.trimmed, 'boolean');
    assert.equal(r.json.duckdb.state, 'running');
    assert.equal(r.json.duckdb.released, true, JSON.stringify(r.json.duckdb));
    const g = await request(s.url('/metrics/gc'));
    assert.equal(g.status, 405);
  });

  it('GET /config/summary masks every secret; /config/validate and /config/features', async () => {
    const s = ctx.server;
    const r = await fetchJson(s.url('/config/summary'));
    keep('GET /config/summary', r);
    assert.equal(r.status, 200);
    for (const k of Object.keys(SECRETS)) assert.equal(r.json.variables[k], '***', k);
    assert.equal(r.json.environment, 'development');
    assert.equal(typeof r.json.features_enabled, 'number');
    assert.equal(r.json.storage.default_bucket, 'ducklake-data');
    const v = await fetchJson(s.url('/config/validate'));
    keep('GET /config/validate', v);
    assert.equal(v.status, 200);
    assert.equal(v.json.valid, true, v.text);
    assert.deepEqual(v.json.validation_errors, []);
    const f = await fetchJson(s.url('/config/features'));
    keep('GET /config/features', f);
    assert.equal(Object.keys(f.json).length, 19);
    assert.equal(f.json.enable_prometheus_metrics, true);
    assert.equal(f.json.enable_rate_limiting, false);
    for (const [k, x] of Object.entries(f.json)) {
      assert.match(k, /^enable_[a-z0-9_]+$/);
      assert.equal(typeof x, 'boolean');
    }
  });

  it('GET /config/health runs the checks; /config/health/last has the monitor\'s result', async () => {
    const s = ctx.server;
    const r = await fetchJson(s.url('/config/health'));
    keep('GET /config/health', r);
    assert.equal(r.status, 200, r.text);
    const b = r.json;
    assert.deepEqual(Object.keys(b.checks).sort(), ['configuration', 'database', 'environment', 'features', 'storage']);
    assert.equal(b.checks.database.status, 'healthy');
    assert.equal(b.checks.configuration.valid, true);
    assert.equal(b.config_changed, false);
    assert.match(b.config_hash, /^[0-9a-f]{16}$/);
    assert.equal(b.summary.total_checks, 5);
    assert.ok(['healthy', 'warning'].includes(b.overall_status), b.overall_status);
    const last = await fetchJson(s.url('/config/health/last'));
    keep('GET /config/health/last', last);
    assert.equal(last.status, 200);
    assert.ok(last.json.check_time >= b.check_time);
    assert.equal(last.json.config_hash, b.config_hash);
  });

  it('GET /config/ducklake reports the catalog; reconnect drops no request in flight', async () => {
    const s = ctx.server;
    const r = await fetchJson(s.url('/config/ducklake'));
    keep('GET /config/ducklake', r);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.connection_status, 'connected');
    assert.equal(r.json.catalog.backend, BACKEND === 'postgres' ? 'postgres' : 'sqlite');
    assert.equal(typeof r.json.data_path, 'string');
    assert.ok('current_snapshot' in r.json && 'table_count' in r.json && r.json.lake.state);
    assert.equal(r.json.configuration.metadata_catalog, 'ducklake_metadata');
    // Requests in flight (each holds a worker for 400 ms) while the catalog reconnects.
    const inflight = Array.from({ length: 4 }, () => request(s.url('/debug/sleep?ms=400')));
    await new Promise((res) => setTimeout(res, 50));
    const rc = await fetchJson(s.url('/config/ducklake/reconnect'), { method: 'POST' });
    keep('POST /config/ducklake/reconnect', rc);
    assert.equal(rc.status, 200, rc.text);
    assert.equal(rc.json.status.reconnection, 'successful');
    for (const x of await Promise.all(inflight)) assert.equal(x.status, 200, x.text);
    const after = await fetchJson(s.url('/health'));
    assert.equal(after.json.checks.metadata_db.status, 'healthy');
  });

  it('promtool check metrics passes on /metrics after traffic on every route', { skip: !havePromtool && 'promtool is not installed (Debian package prometheus; scripts/deps.sh test installs it)' }, async () => {
    const s = ctx.server;
    for (const p of ['/', '/health', '/health/live', '/health/ready', '/events/stats', '/metrics/memory', '/metrics/performance', '/config/summary', '/config/features', '/config/health/last', '/nope'])
      await request(s.url(p));
    await request(s.url('/debug/echo'), { method: 'POST', body: '{"rows": []}', headers: { 'content-type': 'application/json' } });
    const { text } = await scrape(s);
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}\n${text.slice(0, 2000)}`);
  });

  it('no secret appears in any answer or log line', async () => {
    const s = ctx.server;
    for (const p of ['/', '/health', '/metrics', '/config/summary', '/config/validate', '/config/health', '/config/ducklake', '/metrics/performance']) {
      const r = await request(s.url(p));
      keep(`GET ${p}`, r);
    }
    await new Promise((res) => setTimeout(res, 200));
    const texts = [...bodies, ...s.logs().map((l) => [`[${l.stream}] log`, l.text])];
    assert.ok(texts.length > 20);
    for (const [where, text] of texts)
      for (const [name, v] of Object.entries(SECRETS)) assert.ok(!text.includes(v), `${where} holds the value of ${name}`);
  });

  stopsCleanly(ctx);
});

describe('feature flags switch the observability features off', () => {
  const ctx = useServer({
    FEATURE_ENABLE_PROMETHEUS_METRICS: 'false',
    FEATURE_ENABLE_MEMORY_MONITORING: 'false',
    FEATURE_ENABLE_PERFORMANCE_TRACKING: 'false',
  });

  it('their endpoints answer 404 feature_disabled naming the variable', async () => {
    const s = ctx.server;
    for (const [method, p, v] of [
      ['GET', '/metrics', 'FEATURE_ENABLE_PROMETHEUS_METRICS'],
      ['GET', '/metrics/memory', 'FEATURE_ENABLE_MEMORY_MONITORING'],
      ['GET', '/metrics/performance', 'FEATURE_ENABLE_PERFORMANCE_TRACKING'],
      ['POST', '/metrics/gc', 'FEATURE_ENABLE_MEMORY_MONITORING'],
    ]) {
      const r = await fetchJson(s.url(p), { method });
      const body = expectError(assert, r, 404, 'feature_disabled');
      assert.ok(body.detail.includes(v) && body.detail.includes('disabled'), body.detail);
    }
    const f = await fetchJson(s.url('/config/features'));
    assert.equal(f.json.enable_prometheus_metrics, false);
    assert.equal(f.json.enable_memory_monitoring, false);
  });

  it('a disabled memory monitor runs no sampler thread', async () => {
    const on = await startServer({});
    try {
      // Same configuration but the three features: the only extra thread is the sampler.
      assert.equal(threadsOf(on.pid) - threadsOf(ctx.server.pid), 1);
    } finally {
      await on.stop();
    }
  });

  stopsCleanly(ctx);
});

describe('metrics settings', () => {
  it('MONITORING_METRICS_PATH moves the exposition; MONITORING_METRICS_ENABLED=false turns it off', async () => {
    const moved = await startServer({ MONITORING_METRICS_PATH: '/internal/prom' });
    try {
      const r = await request(moved.url('/internal/prom'));
      assert.equal(r.status, 200);
      assert.ok(r.text.includes('dlb_build_info'));
      expectError(assert, await fetchJson(moved.url('/metrics')), 404, 'not_found');
    } finally {
      await moved.stop();
    }
    const off = await startServer({ MONITORING_METRICS_ENABLED: 'false' });
    try {
      const body = expectError(assert, await fetchJson(off.url('/metrics')), 404, 'feature_disabled');
      assert.ok(body.detail.includes('MONITORING_METRICS_ENABLED'), body.detail);
    } finally {
      await off.stop();
    }
  });
});
