// Models and deployments in a real browser against a real `tern serve`:
// register two versions (LightGBM files imported from disk), deploy v1,
// predict from the Try-it form, put v2 behind it, move the canary slider,
// roll back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { useTern, screenshot, repoRoot } from './harness.mjs';

const env = useTern();

const modelFile = join(repoRoot, 'backend', 'gbdt', 'testdata', 'lgb_binary.txt');
const otherFile = join(repoRoot, 'backend', 'gbdt', 'testdata', 'xgb_binary.json');

async function importModel(page, file) {
  await page.click('[data-testid="import-model"]');
  await page.fill('[data-testid="import-name"]', 'fraud');
  await page.fill('[data-testid="import-path"]', file);
  await page.click('[data-testid="import-submit"]');
}

test('register, deploy, predict from Try-it, move the canary slider, roll back', async () => {
  const page = await env.open({ width: 1280, height: 800 });
  await page.click('[data-nav="models"]');
  await importModel(page, modelFile);
  await page.waitForSelector('[data-testid="version-row"]');
  // A second file with the same six inputs becomes version 2.
  await importModel(page, otherFile);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="version-row"]').length === 2);
  await page.waitForSelector('[data-testid="lineage"]');
  await screenshot(page, 'models-versions');

  // Package v2 as an MLmodel folder.
  const dest = join(mkdtempSync(join(tmpdir(), 'tern-export-')), 'fraud-v2');
  await page.fill('[data-testid="export-dest"]', dest);
  await page.click('[data-testid="export-folder"]');
  await page.waitForSelector('[data-testid="exported"]');
  assert.ok(existsSync(join(dest, 'MLmodel')), 'the exported folder holds MLmodel');
  assert.match(readFileSync(join(dest, 'MLmodel'), 'utf8'), /python_function:\n\s+data: model\.(json|lgb)\n[\s\S]*loader_module: mlflow\.(xgboost|lightgbm)\n/, 'MLflow loads it with its own loader');
  assert.match(await page.textContent('[data-testid="exported"]'), /mlflow\.pyfunc\.load_model\(/);
  await screenshot(page, 'models-exported');

  // The newest version is selected first; pick v1 and deploy it.
  await page.locator('[data-testid="version-row"]').nth(1).click();
  await page.waitForSelector('[data-testid="deploy-version"]:has-text("Deploy v1")');
  await page.click('[data-testid="deploy-version"]');
  await page.waitForSelector('[data-testid="endpoint"]', { timeout: 60_000 });
  const endpoint = (await page.textContent('[data-testid="endpoint"]')).trim();
  assert.match(endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);

  // Try it: the form is generated from the signature (Column_0..Column_5).
  await page.waitForSelector('[data-testid="field-Column_0"]');
  for (let i = 0; i < 6; i++) await page.fill(`[data-testid="field-Column_${i}"]`, String(i * 0.5));
  await page.click('[data-testid="predict"]');
  await page.waitForSelector('[data-testid="tryit-result"]');
  assert.equal(await page.getAttribute('[data-testid="tryit-result"]', 'data-status'), '200');
  assert.match(await page.textContent('[data-testid="tryit-result"]'), /predictions/);
  // Its reasons: a waterfall from the model's average through the six
  // inputs' exact SHAP values (TreeSHAP of the version that answered).
  await page.waitForSelector('[data-testid="waterfall"]');
  const rows = await page.locator('[data-testid="waterfall-row"] .label').allTextContents();
  assert.equal(rows.length, 8, rows.join(' | '));
  assert.equal(rows[0], 'Model average');
  assert.equal(rows[7], 'This prediction');
  assert.match(rows[1], /^Column_\d = /);
  await page.locator('[data-testid="waterfall"]').scrollIntoViewIfNeeded();
  await screenshot(page, 'tryit-waterfall');
  // The same prediction, logged by the router under its request ID, is
  // explained again later from Recent predictions: same version, same rows.
  await page.waitForSelector('[data-testid="explain-logged"]', { timeout: 10_000 });
  await page.locator('[data-testid="explain-logged"]').first().click();
  await page.waitForSelector('[data-testid="logged-why"] [data-testid="waterfall"]');
  const whyRows = await page.locator('[data-testid="logged-why"] [data-testid="waterfall-row"] .label').allTextContents();
  assert.deepEqual(whyRows, rows, 'the logged request explains as the Try-it one did');
  assert.match(await page.textContent('[data-testid="logged-why"]'), /Answered by fraud v1/);
  await page.locator('[data-testid="logged-why"]').scrollIntoViewIfNeeded();
  await screenshot(page, 'logged-why');
  // A value that does not fit its column is named before anything is sent.
  await page.fill('[data-testid="field-Column_2"]', 'abc');
  await page.click('[data-testid="predict"]');
  assert.match(await page.textContent('[data-testid="tryit-error"]'), /Column_2 must be a number/);

  // Batch scoring: drop a CSV, get it back scored.
  const dt = await page.evaluateHandle(() => {
    const rows = ['Column_0,Column_1,Column_2,Column_3,Column_4,Column_5'];
    for (let i = 0; i < 1200; i++) rows.push(`${i % 7},1,2,3,4,5`);
    const dt = new DataTransfer();
    dt.items.add(new File([rows.join('\n') + '\n'], 'batch.csv', { type: 'text/csv' }));
    return dt;
  });
  await page.dispatchEvent('[data-testid="csv-drop"]', 'drop', { dataTransfer: dt });
  await page.waitForSelector('[data-testid="scored-download"]');
  assert.match(await page.textContent('[data-testid="batch-progress"]'), /^1200 rows scored/);
  assert.equal(await page.getAttribute('[data-testid="scored-download"]', 'download'), 'batch.scored.csv');

  // Put v2 behind the endpoint, then give it 30% with the slider.
  await page.selectOption('[data-testid="add-version-select"]', '2');
  await page.click('[data-testid="add-version"]');
  await page.waitForSelector('[data-testid="backend-row"][data-backend="v2"]', { timeout: 60_000 });
  await page.locator('[data-testid="canary-slider"]').fill('30');
  await page.waitForFunction(() => document.querySelector('[data-testid="backend-row"][data-backend="v2"] [data-testid="weight"]')?.textContent?.trim() === '30%');
  assert.equal((await page.textContent('[data-testid="backend-row"][data-backend="v1"] [data-testid="weight"]')).trim(), '70%');
  await page.waitForSelector('[data-testid="live-stats"]');
  await screenshot(page, 'deployments-canary');

  // Roll back: v2 returns to 0% and v1 to 100%.
  await page.click('[data-testid="rollback"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="backend-row"][data-backend="v2"] [data-testid="weight"]')?.textContent?.trim() === '0%');
  assert.equal((await page.textContent('[data-testid="canary-value"]')).trim(), '0');
  assert.deepEqual(page.jsErrors, []);

  const dark = await env.open({ width: 1024, height: 640, colorScheme: 'dark' });
  await dark.goto(`${env.tern.url}/#/deployments`);
  await dark.waitForSelector('[data-testid="backend-row"]');
  await screenshot(dark, 'deployments-dark-small');
  // A batch-scoring request carries many rows; its row picker explains any.
  await dark.waitForSelector('[data-testid="explain-logged"]', { timeout: 10_000 });
  await dark.locator('[data-testid="explain-logged"]').first().click();
  await dark.waitForSelector('[data-testid="logged-why"] [data-testid="waterfall"]');
  if (await dark.locator('[data-testid="logged-row"]').count()) {
    await dark.selectOption('[data-testid="logged-row"]', { value: '1' }); // row 2 (a label "1" would be row 1)
    await dark.waitForSelector('[data-testid="logged-why"][data-row="1"] [data-testid="waterfall"]');
  }
  await dark.locator('[data-testid="logged-why"]').scrollIntoViewIfNeeded();
  await screenshot(dark, 'logged-why-dark-small');
  assert.deepEqual(dark.jsErrors, []);
});

test('a pickled scikit-learn folder is registered, marked as running code, and offered for deployment in a container', async () => {
  // what mlflow.sklearn.log_model writes (the pickle bytes are a stand-in: Tern never opens them)
  const dir = mkdtempSync(join(tmpdir(), 'tern-sklearn-'));
  writeFileSync(join(dir, 'MLmodel'), 'flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n    model_path: model.pkl\n  sklearn:\n    pickled_model: model.pkl\n' +
    "signature:\n  inputs: '[{\"type\": \"double\", \"name\": \"tenure\", \"required\": true}]'\n  outputs: ''\n  params: null\n");
  writeFileSync(join(dir, 'model.pkl'), '\x80\x04');
  for (const [opts, name] of [[{ width: 1280, height: 800 }, 'models-pickle'], [{ width: 1024, height: 640, colorScheme: 'dark' }, 'models-pickle-dark-small']]) {
    const page = await env.open(opts);
    await page.click('[data-nav="models"]');
    if (name === 'models-pickle') {
      await page.click('[data-testid="import-model"]');
      await page.fill('[data-testid="import-name"]', 'churn');
      await page.fill('[data-testid="import-path"]', dir);
      await page.click('[data-testid="import-submit"]');
    } else {
      await page.click('[data-testid="model-item"]:has-text("churn")');
    }
    await page.waitForSelector('[data-testid="pickle-chip"]');
    assert.match(await page.textContent('[data-testid="versions"]'), /sklearn/);
    assert.match(await page.textContent('[data-testid="pickle-chip"]'), /runs code/);
    assert.ok(!(await page.isDisabled('[data-testid="deploy-version"]')), 'Deploy is on for a pickle with a signature');
    assert.match(await page.getAttribute('[data-testid="deploy-version"]', 'title'), /locked-down Python container/);
    await page.fill('[data-testid="export-dest"]', join(dir, 'out'));
    assert.ok(await page.isDisabled('[data-testid="export-image"]'), 'no serving image for a pickle');
    assert.ok(!(await page.isDisabled('[data-testid="export-folder"]')), 'the MLmodel folder still exports');
    await screenshot(page, name);
    await page.close();
  }
});
