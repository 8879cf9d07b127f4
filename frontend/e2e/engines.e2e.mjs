import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTern, screenshot, dropOn } from './harness.mjs';

const env = useTern();

// A certificate folder as `docker --tlsverify` reads it (ca.pem, cert.pem,
// key.pem): a self-signed client certificate that is its own CA.
const certs = mkdtempSync(join(tmpdir(), 'tern-e2e-certs-'));
after(() => rmSync(certs, { recursive: true, force: true }));
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
  '-keyout', join(certs, 'key.pem'), '-out', join(certs, 'cert.pem'), '-subj', '/CN=tern-e2e', '-days', '1'], { stdio: 'ignore' });
copyFileSync(join(certs, 'cert.pem'), join(certs, 'ca.pem'));

/** A loopback port nothing listens on. */
async function closedPort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

async function settings(opts) {
  const page = await env.open(opts);
  await page.click('[data-nav="settings"]');
  await page.locator('#engines-h').scrollIntoViewIfNeeded();
  return page;
}

test('Settings → Engines: the local engine with its CPUs and memory; adding one that refuses the connection says so in words; removing it', async () => {
  const page = await settings();
  const local = page.locator('li[data-engine="local"][data-state="up"]');
  await local.waitFor({ timeout: 20_000 });
  assert.match(await local.locator('[data-testid="engine-summary"]').textContent(), /^\d+ CPUs? · [\d.]+ [KMGT]?B memory · Docker \S+ · [\d.]+ ms$/);

  // No certificate folder: refused before anything is stored.
  const port = await closedPort();
  await page.fill('#en-name', 'gpu-box');
  await page.fill('#en-host', `tcp://127.0.0.1:${port}`);
  await page.click('button:text("Add engine")');
  await page.waitForSelector('[data-testid="engine-form-error"]:has-text("plain TCP")');
  await page.fill('#en-host', 'gpu-box.lan');
  await page.fill('#en-certs', certs);
  await page.click('button:text("Add engine")');
  await page.waitForSelector('[data-testid="engine-form-error"]:has-text("tcp://host:2376")');

  await page.fill('#en-host', `tcp://127.0.0.1:${port}`);
  await page.click('button:text("Add engine")');
  const row = page.locator('li[data-engine="gpu-box"][data-state="down"]');
  await row.waitFor({ timeout: 20_000 });
  assert.equal(
    await row.locator('[data-testid="engine-summary"]').textContent(),
    `Engine "gpu-box" at tcp://127.0.0.1:${port} refused the connection: nothing listens on that port. Is dockerd running there, listening on TCP?`,
  );
  assert.equal(await page.inputValue('#en-name'), '', 'the form is cleared once added');
  await screenshot(page, 'settings-engines-light-1280x800');

  // Test again: still down, still in words.
  await row.locator('button:text("Test")').click();
  await page.locator('li[data-engine="gpu-box"][data-state="down"]').waitFor();

  // The same name twice is refused.
  await page.fill('#en-name', 'gpu-box');
  await page.fill('#en-host', `tcp://127.0.0.1:${port}`);
  await page.fill('#en-certs', certs);
  await page.click('button:text("Add engine")');
  await page.waitForSelector('[data-testid="engine-form-error"]:has-text("already an engine called")');
  assert.deepEqual(page.jsErrors, []);
  await page.context().close();

  for (const scheme of ['light', 'dark']) {
    for (const [w, h] of [[1280, 800], [1024, 640]]) {
      const p = await settings({ width: w, height: h, colorScheme: scheme });
      await p.locator('li[data-engine="gpu-box"][data-state="down"]').waitFor({ timeout: 20_000 });
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `overflows by ${overflow}px`);
      await p.locator('#engines-h').scrollIntoViewIfNeeded();
      await screenshot(p, `settings-engines-${scheme}-${w}x${h}`);
      await p.context().close();
    }
  }

  const last = await settings();
  await last.locator('li[data-engine="gpu-box"]').waitFor({ timeout: 20_000 });
  await last.click('button[aria-label="Remove gpu-box"]');
  await last.locator('li[data-engine="gpu-box"]').waitFor({ state: 'detached' });
  await last.context().close();
  const left = await env.call('Engines.List');
  assert.deepEqual(left.map((h) => h.engine.name), ['local']);
});

test('Train chooses an engine: one that does not answer fails the job with a sentence naming it', async () => {
  const port = await closedPort();
  await env.call('Engines.Add', { name: 'far-box', host: `tcp://127.0.0.1:${port}`, certDir: certs, local: false });
  const page = await env.open();
  await page.click('[data-nav="datasets"]');
  const dt = await page.evaluateHandle(() => {
    const rows = ['a,b,label\n'];
    for (let i = 0; i < 200; i++) rows.push(`${i % 7},${i % 5},${i % 7 > 3 ? 'yes' : 'no'}\n`);
    const d = new DataTransfer();
    d.items.add(new File(rows, 'remote.csv', { type: 'text/csv' }));
    return d;
  });
  await dropOn(page, '[data-testid="drop-zone"]', dt);
  await page.waitForSelector('[data-testid="column-table"]', { timeout: 60_000 });
  await page.click('button:has-text("Train a model")');
  await page.waitForSelector('[data-testid="train-start"]');
  await page.click('[data-testid="target-confirm"]');
  const options = await page.locator('[data-testid="train-engine"] option').allTextContents();
  assert.deepEqual(options, ['This machine (local)', 'far-box']);
  await page.selectOption('[data-testid="train-engine"]', 'far-box');
  await page.locator('[data-testid="train-engine"]').scrollIntoViewIfNeeded();
  await screenshot(page, 'training-engine-choice');
  await page.click('[data-testid="train-start"]');
  await page.waitForSelector('[data-testid="live-job"][data-state="failed"]', { timeout: 30_000 });
  assert.equal(
    await page.textContent('[data-testid="job-reason"]'),
    `The job cannot start: Engine "far-box" at tcp://127.0.0.1:${port} refused the connection: nothing listens on that port. Is dockerd running there, listening on TCP?`,
  );
  await screenshot(page, 'training-engine-refused');
  assert.deepEqual(page.jsErrors, []);
  await page.context().close();
  await env.call('Engines.Remove', 'far-box');
});
