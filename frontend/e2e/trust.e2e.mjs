// Training you can trust, in a real browser against a real `tern serve`:
// a CSV with a 0/1 `label` column (not the last) gets `label` proposed as
// a binary target, and nothing trains until the user confirms it; the
// panel says which rows are held out and why, refits on all rows by
// default, creates the experiment and names the run; the run lands there,
// with that name and only the chosen model's parameters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useTern, dropOn, screenshot } from './harness.mjs';

const env = useTern();

async function dropLoans(page, rows) {
  const dt = await page.evaluateHandle((rows) => {
    let s = 7;
    const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const parts = ['income,label,age,region\n'];
    const regions = ['north', 'south', 'east'];
    for (let i = 0; i < rows; i++) {
      const a = rnd();
      const b = rnd();
      parts.push(`${(50 + 20 * a).toFixed(2)},${a + 0.4 * b > 0 ? 1 : 0},${Math.round(40 + 15 * b)},${regions[i % 3]}\n`);
    }
    const dt = new DataTransfer();
    dt.items.add(new File(parts, 'loans.csv', { type: 'text/csv' }));
    return dt;
  }, rows);
  await dropOn(page, '[data-testid="drop-zone"]', dt);
}

async function shots(page, name) {
  for (const [width, height] of [[1280, 800], [1024, 640]]) {
    for (const scheme of ['light', 'dark']) {
      await page.setViewportSize({ width, height });
      await page.emulateMedia({ colorScheme: scheme });
      await page.waitForTimeout(150);
      await screenshot(page, `${name}-${width}x${height}-${scheme}`);
      const over = await page.$eval('main', (m) => m.scrollWidth - m.clientWidth);
      assert.ok(over <= 0, `${name} at ${width}px scrolls sideways by ${over}px`);
    }
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: 'light' });
}

test('a proposed target is confirmed, the run lands in a new experiment with its name and only its model’s params', async () => {
  const page = await env.open({ width: 1280, height: 800 });
  await page.click('[data-nav="datasets"]');
  await dropLoans(page, 3000);
  await page.waitForSelector('[data-testid="column-table"]', { timeout: 60_000 });
  await page.click('button:has-text("Train a model")');
  await page.waitForSelector('[data-testid="target-proposal"]');

  assert.equal(await page.inputValue('[data-testid="train-target"]'), 'label', 'the column named like a target, not the last one');
  assert.match(await page.textContent('[data-testid="target-proposal"]'), /Proposed.*named like a target \("label"\)/s);
  assert.equal(await page.textContent('[data-testid="target-task"]'), 'label: binary classification (0, 1)');
  assert.equal(await page.isDisabled('[data-testid="train-start"]'), true, 'Train waits for the confirmation');
  assert.equal(await page.isDisabled('[data-testid="sweep-open"]'), true);
  const holdout = await page.textContent('[data-testid="train-holdout"]');
  assert.match(holdout, /20 % of the rows \(about 600\) are held out to test the model, picked at random with seed 42, stratified by class/);
  assert.equal(await page.isChecked('[data-testid="train-refit"]'), true, 'refit is on by default');
  await shots(page, 'trust-proposed');

  await page.click('[data-testid="target-confirm"]');
  await page.waitForSelector('[data-testid="target-proposal"]', { state: 'detached' });
  await page.selectOption('[data-testid="train-experiment"]', 'new');
  assert.equal(await page.isDisabled('[data-testid="train-start"]'), true, 'a new experiment needs a name');
  await page.fill('[data-testid="train-new-experiment"]', 'loan-defaults');
  assert.match(await page.getAttribute('[data-testid="train-run-name"]', 'placeholder'), /^loans v1 · gbdt · \d\d:\d\d$/);
  await page.fill('[data-testid="train-run-name"]', 'gbdt refit baseline');
  await shots(page, 'trust-confirmed');
  await page.click('[data-testid="train-start"]');

  await page.waitForSelector('[data-testid="live-job"][data-state="succeeded"]', { timeout: 120_000 });
  const jobs = await env.call('Training.Jobs');
  const job = jobs.find((j) => j.spec.name === 'gbdt refit baseline');
  assert.ok(job, 'the job carries the run name');
  const { run, experiment } = await env.call('Experiments.Run', job.runId);
  assert.equal(run.name, 'gbdt refit baseline');
  assert.equal(experiment.name, 'loan-defaults');
  assert.equal(run.params.task, 'classification', 'the 0/1 target is classification');
  assert.equal(run.params.refit, 'true');
  assert.match(run.tags['tern.evaluation'], /held-out split/);
  const keys = Object.keys(run.params).sort();
  assert.deepEqual(
    keys,
    ['early_stopping', 'features', 'l2_regularization', 'learning_rate', 'max_bins', 'max_depth', 'max_iter', 'max_leaf_nodes', 'min_samples_leaf', 'model',
      'n_iter_no_change', 'refit', 'seed', 'target', 'task', 'test_fraction', 'validation_fraction'],
    'only the GBDT schema and the run keys',
  );
  assert.deepEqual(page.jsErrors, []);

  await page.click('[data-testid="open-run"]');
  await page.waitForSelector('[data-testid="run-detail"]');
  await shots(page, 'trust-run');

  // Re-run repeats it exactly: a new run, same params, same metrics.
  await page.click('[data-testid="run-rerun"]');
  await page.waitForFunction((id) => /#\/experiments\/run\/[0-9a-z]+$/.test(location.hash) && !location.hash.endsWith(id), job.runId);
  const rerunId = page.url().split('/').pop();
  let again;
  for (const until = Date.now() + 120_000; Date.now() < until; await page.waitForTimeout(250)) {
    again = await env.call('Experiments.Run', rerunId);
    if (again.run.status === 'FINISHED' || again.run.status === 'FAILED') break;
  }
  assert.equal(again.run.status, 'FINISHED', again.run.statusReason);
  assert.equal(again.run.name, 'gbdt refit baseline (re-run)');
  assert.equal(again.experiment.name, 'loan-defaults');
  assert.equal(again.run.tags['tern.rerun_of'], job.runId);
  assert.deepEqual(again.run.params, run.params);
  for (const k of Object.keys(run.metrics).filter((k) => k.startsWith('test_'))) {
    assert.equal(again.run.metrics[k].value, run.metrics[k].value, `${k} is the same`);
  }
  await page.waitForSelector('h1:has-text("gbdt refit baseline (re-run)")');
  await page.waitForSelector('[data-testid="run-detail"] b.s-finished', { timeout: 10_000 });
  await page.waitForSelector('[data-testid="metric-values"]');
  await shots(page, 'trust-rerun');
  assert.deepEqual(page.jsErrors, []);
});
