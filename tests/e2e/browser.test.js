// GET /events/test in a real browser: Playwright (playwright-core) drives Debian's chromium,
// connects the page's EventSource, broadcasts from the page, sees the event in the log, and
// keeps a screenshot as a test artifact (build/artifacts/events-test-page.png).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT, fetchJson, makeTmpDir, stopsCleanly, useServer } from './lib/server.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (scripts/deps.sh test installs the chromium package)`;
const ARTIFACTS = path.join(REPO_ROOT, 'build/artifacts');

describe('browser: the /events/test page in chromium', { skip }, () => {
  const ctx = useServer({ SSE_HEARTBEAT_INTERVAL: '0', SSE_PING_INTERVAL: '0', SSE_METRICS_INTERVAL: '0' });
  let context, page;

  before(async () => {
    const { chromium } = await import('playwright-core');
    // A fresh profile each run (Playwright takes --user-data-dir as this argument).
    context = await chromium.launchPersistentContext(makeTmpDir('dlb-chromium-'), {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1100, height: 1000 },
    });
    page = context.pages()[0] || (await context.newPage());
  });

  after(async () => {
    if (context) await context.close();
  });

  it('connects, broadcasts from the page, shows the event live; screenshot kept', async () => {
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const res = await page.goto(ctx.server.url('/events/test'));
    assert.equal(res.status(), 200);
    assert.match(await page.title(), /live events/);

    await page.click('#connect');
    await page.waitForFunction(() => document.getElementById('status').textContent === 'connected', null, { timeout: 10000 });
    await page.waitForFunction(() => /^[0-9a-f-]{36}$/.test(document.getElementById('cid').textContent), null, { timeout: 10000 });
    const clientId = await page.textContent('#cid');
    const stats = await fetchJson(ctx.server.url('/events/stats'));
    assert.ok(stats.json.clients.some((c) => c.client_id === clientId), 'the page is a client of the hub');

    // Broadcast from the page itself (its form and button), then from outside.
    await page.selectOption('#btype', 'job_status');
    await page.fill('#bdata', JSON.stringify({ job_name: 'browser-job', status: 'running', progress: 55 }));
    await page.click('#send');
    await page.waitForSelector('#log .ev-job_status', { timeout: 10000 });
    const text = await page.textContent('#log .ev-job_status');
    assert.match(text, /browser-job/);
    assert.match(text, /"progress":55/);
    assert.match(await page.textContent('#bresult'), /\S/);

    const r = await fetchJson(ctx.server.url('/events/broadcast'), {
      method: 'POST',
      json: { event_type: 'lineage_event', data: { status: 'completed', job_name: 'from-outside' } },
    });
    assert.equal(r.status, 200, r.text);
    await page.waitForSelector('#log .ev-lineage_event', { timeout: 10000 });
    assert.match(await page.textContent('#log .ev-lineage_event'), /from-outside/);

    await page.click('#stats');
    await page.waitForFunction(() => /connected_clients/.test(document.getElementById('hubout').textContent), null, { timeout: 10000 });
    assert.equal(Number(await page.textContent('#count')) >= 3, true, 'connected + two events counted');
    assert.deepEqual(pageErrors, []);

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const shot = path.join(ARTIFACTS, 'events-test-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 10000, 'a real screenshot');
  });

  stopsCleanly(ctx);
});
