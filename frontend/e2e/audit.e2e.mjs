// The audit trail in Settings: changes made through the MLflow face and
// the browser show with their face, the object filter narrows them, an
// object opens its page, Verify says the result in words, Export writes
// JSON lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { useTern, screenshot } from './harness.mjs';

const env = useTern({
  setup: async (env) => {
    // callBound sends the token itself: the MLflow face, as a script would.
    await env.call('Models.Create', 'churn', 'predicts who leaves');
    await env.call('Models.Create', 'fraud', '');
    await env.call('Experiments.Create', 'tuning');
  },
});

async function openSettings(opts) {
  const page = await env.open(opts);
  await page.click('[data-nav="settings"]');
  await page.waitForSelector('[data-testid="audit-table"] tbody tr');
  return page;
}

test('the trail lists changes with their face, filters, opens objects, verifies and exports', async () => {
  const page = await openSettings();
  // A change made in this browser joins the trail by its own face.
  await page.evaluate(async () => {
    await fetch('/api/call/Models.Create', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(['browser-made', '']) });
  });
  await page.click('[data-testid="audit-filter"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="audit-table"] tbody')?.textContent?.includes('browser-made'));
  const rows = await page.$$eval('[data-testid="audit-table"] tbody tr', (trs) => trs.map((tr) => tr.textContent));
  assert.ok(rows.some((r) => r.includes('model.create') && r.includes('browser-made') && r.includes('Browser')), rows.join('\n'));
  assert.ok(rows.some((r) => r.includes('model.create') && r.includes('churn') && r.includes('MLflow client')), rows.join('\n'));
  assert.ok(rows.some((r) => r.includes('experiment.create') && r.includes('tuning')));

  await page.fill('[data-testid="audit-object"]', 'churn');
  await page.click('[data-testid="audit-filter"]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="audit-table"] tbody tr').length === 1);
  assert.match(await page.textContent('[data-testid="audit-table"] tbody'), /predicts who leaves/);

  await page.click('[data-testid="audit-verify"]');
  await page.waitForSelector('[data-testid="audit-verdict"]');
  assert.match(await page.textContent('[data-testid="audit-verdict"]'), /^All \d+ records are intact/);

  const dest = join(env.tern.dataDir, 'churn-audit.jsonl');
  await page.fill('[data-testid="audit-export-dest"]', dest);
  await page.click('[data-testid="audit-export"]');
  await page.waitForSelector('[data-testid="audit-exported"]');
  assert.match(await page.textContent('[data-testid="audit-exported"]'), /Wrote 1 records/);
  assert.ok(existsSync(dest));
  const lines = readFileSync(dest, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 1);
  assert.equal(lines[0].action, 'model.create');
  assert.equal(lines[0].face, 'mlflow');
  assert.match(lines[0].hash, /^[0-9a-f]{64}$/);
  // Exporting again to the same file is refused in words, not overwritten.
  await page.click('[data-testid="audit-export"]');
  await page.waitForSelector('.audit .error-text');
  assert.match(await page.textContent('.audit .error-text'), /already exists/);

  await page.click('[data-testid="audit-table"] button.link');
  await page.waitForFunction(() => location.hash === '#/models/churn');
  assert.deepEqual(page.jsErrors, []);
  await page.context().close();
});

for (const scheme of ['light', 'dark']) {
  for (const [w, h] of [[1280, 800], [1024, 640]]) {
    test(`the audit trail holds (${scheme}, ${w}×${h})`, async () => {
      const page = await openSettings({ width: w, height: h, colorScheme: scheme });
      await page.click('[data-testid="audit-verify"]');
      await page.waitForSelector('[data-testid="audit-verdict"]');
      await page.$eval('[data-testid="audit-trail"]', (el) => el.scrollIntoView());
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `overflows by ${overflow}px`);
      await screenshot(page, `audit-${scheme}-${w}x${h}`);
      await page.context().close();
    });
  }
}
