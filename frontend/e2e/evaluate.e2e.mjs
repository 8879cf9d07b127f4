// "Compare with champion" in a real browser against a real `tern serve`:
// two runs trained on one dataset version and registered (v1 weak, v2
// sound), v1 made @champion, then v2 compared with it on v2's held-out
// rows — the table shows both values, the difference and its interval.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { useTern, screenshot, callBound } from './harness.mjs';

const env = useTern();

function churnCSV(rows) {
  let s = 7;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const out = ['a,b,colour,label'];
  const colours = ['red', 'green', 'blue'];
  for (let i = 0; i < rows; i++) {
    const a = rnd();
    const b = rnd();
    const noise = rnd() * 0.4;
    out.push(`${a.toFixed(4)},${b.toFixed(4)},${colours[i % 3]},${a + 0.5 * b + noise > 0.1 ? 1 : 0}`);
  }
  return out.join('\n') + '\n';
}

async function trainAndRegister(tern, versionId, req) {
  const job = await callBound(tern, 'Training.Start', { datasetVersionId: versionId, target: 'label', ...req });
  const deadline = Date.now() + 120_000;
  let j = job;
  while (!['succeeded', 'failed', 'cancelled', 'crashed'].includes(j.state) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    j = await callBound(tern, 'Training.Job', job.id);
  }
  assert.equal(j.state, 'succeeded', `training ended ${j.state}: ${j.reason}`);
  return callBound(tern, 'Models.RegisterRun', 'churn', j.runId, '');
}

test('compare a version with the champion: values, difference and interval per metric', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tern-eval-'));
  const file = join(dir, 'churn.csv');
  writeFileSync(file, churnCSV(1500));
  const dv = await callBound(env.tern, 'Datasets.ImportPath', file, {});
  await trainAndRegister(env.tern, dv.id, { model: 'logistic', features: ['colour'], params: { seed: 3 } });
  await trainAndRegister(env.tern, dv.id, { model: 'gbdt', params: { seed: 5, max_iter: 50 } });
  await callBound(env.tern, 'Models.SetAlias', 'churn', 'champion', 1);

  const page = await env.open({ width: 1280, height: 800 });
  await page.click('[data-nav="models"]');
  await page.click('[data-testid="model-item"]:has-text("churn")');
  await page.waitForSelector('[data-testid="compare-run"]:has-text("Compare v2 with v1")');
  await page.click('[data-testid="compare-run"]');
  await page.waitForSelector('[data-testid="compare-table"]', { timeout: 60_000 });
  const holdout = await page.textContent('[data-testid="compare-holdout"]');
  assert.match(holdout, /the 20 % of churn v1 that churn v2's run held out \(seed 5, stratified by class\): 300 rows/);
  assert.match(holdout, /95 % paired-bootstrap percentile intervals/);
  const rows = await page.$$eval('[data-testid="compare-table"] tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
  assert.deepEqual(rows.map((r) => r[0].replace(/\s*[↑↓]$/, '')), ['AUC', 'Accuracy', 'Log loss', 'F1']);
  const auc = rows[0];
  assert.ok(Number(auc[2]) > Number(auc[1]), `v2's AUC ${auc[2]} beats v1's ${auc[1]}`);
  assert.match(auc[4], /^\[\+0\.\d+, \+0\.\d+\]$/, 'the whole AUC interval is above zero');
  assert.equal(auc[5], 'better');
  // v1 saw some of these rows (another seed on the same data): said in words.
  assert.match(await page.textContent('[data-testid="compare-note"]'), /churn v1 was trained on the same dataset version with another split/);
  await screenshot(page, 'models-compare');

  // The champion itself offers no comparison with itself.
  await page.locator('[data-testid="version-row"]').nth(1).click();
  await page.waitForSelector('[data-testid="compare-run"]:has-text("Compare v1 with v1")');
  assert.ok(await page.isDisabled('[data-testid="compare-run"]'));
  assert.deepEqual(page.jsErrors, []);

  const dark = await env.open({ width: 1024, height: 640, colorScheme: 'dark' });
  await dark.click('[data-nav="models"]');
  await dark.click('[data-testid="model-item"]:has-text("churn")');
  await dark.click('[data-testid="compare-run"]');
  await dark.waitForSelector('[data-testid="compare-table"]', { timeout: 60_000 });
  await dark.locator('[data-testid="compare-champion"]').scrollIntoViewIfNeeded();
  await screenshot(dark, 'models-compare-dark-small');
  assert.deepEqual(dark.jsErrors, []);
});
