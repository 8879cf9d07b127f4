// Safe deletes in a real browser against a real `tern serve`: a run moved
// to the trash leaves the runs table, waits in Experiments → Trash with
// the space a permanent delete frees, and comes back with Restore; a
// deployed model version is refused deletion in words naming the
// deployment, and an archived version leaves the list and comes back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTern, screenshot, repoRoot } from './harness.mjs';

const env = useTern();

async function mlflow(path, body, method = 'POST') {
  const res = await fetch(env.tern.url + path, {
    method,
    headers: { Authorization: 'Bearer ' + env.tern.token, 'Content-Type': body instanceof Uint8Array ? 'application/octet-stream' : 'application/json' },
    body: body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// Two finished runs through the MLflow API; "binned" holds a 40 kB artifact.
async function logRuns() {
  const v2 = '/api/2.0/mlflow/';
  const { experiment_id: exp } = await mlflow(v2 + 'experiments/create', { name: 'churn' });
  const ids = {};
  for (const name of ['kept', 'binned']) {
    const { run } = await mlflow(v2 + 'runs/create', { experiment_id: exp, run_name: name, start_time: Date.now() });
    ids[name] = run.info.run_id;
    await mlflow(v2 + 'runs/log-batch', { run_id: run.info.run_id, metrics: [{ key: 'auc', value: name === 'kept' ? 0.8 : 0.9, timestamp: Date.now(), step: 0 }] });
    await mlflow(v2 + 'runs/update', { run_id: run.info.run_id, status: 'FINISHED', end_time: Date.now() });
  }
  await mlflow(`/api/2.0/mlflow-artifacts/artifacts/${exp}/${ids.binned}/artifacts/model/weights.bin`, new Uint8Array(40_000).fill(7), 'PUT');
  return ids;
}

test('delete a run → Trash → restore it; the trash says what a permanent delete frees', async () => {
  const ids = await logRuns();
  const page = await env.open({ width: 1280, height: 800 });
  page.on('dialog', (d) => assert.fail(`a native ${d.type()} dialog opened`));
  await page.goto(`${env.tern.url}/#/experiments/run/${ids.binned}`);
  await page.waitForSelector('[data-testid="run-detail"]');
  await page.click('[data-testid="run-delete"]');
  await page.waitForSelector('[data-testid="app-dialog"]');
  assert.match(await page.textContent('#app-dialog-title'), /Move run binned to the trash\?/);
  await page.click('[data-testid="app-dialog-ok"]');
  // Back on the runs table, which no longer lists it.
  await page.waitForFunction(() => document.querySelector('[data-testid="run-count"]')?.textContent?.trim() === '1 run');

  await page.click('[data-testid="runs-trash-button"]');
  await page.waitForSelector('[data-testid="trash-row"]');
  const row = await page.textContent('[data-testid="trash-row"]');
  assert.match(row, /binned/);
  assert.match(row, /churn/);
  assert.match(row, /40 KB/, 'the artifact size a permanent delete frees');
  await screenshot(page, 'runs-trash');

  // Delete permanently asks first and says how much it frees; Cancel keeps it.
  await page.click('[data-testid="trash-purge"]');
  await page.waitForSelector('[data-testid="app-dialog"]');
  assert.match(await page.textContent('[data-testid="app-dialog"]'), /frees 40 KB/);
  await screenshot(page, 'runs-trash-purge-dialog');
  await page.click('[data-testid="app-dialog-cancel"]');
  await page.waitForSelector('[data-testid="app-dialog"]', { state: 'detached' });

  await page.click('[data-testid="trash-restore"]');
  await page.waitForSelector('[data-testid="trash-notice"]');
  assert.match(await page.textContent('[data-testid="trash-notice"]'), /binned is back in churn/);
  await page.waitForSelector('[data-testid="trash-row"]', { state: 'detached' });
  await page.click('text=Back to runs');
  await page.waitForFunction(() => document.querySelector('[data-testid="run-count"]')?.textContent?.trim() === '2 runs');
  const run = await env.call('Experiments.Run', ids.binned);
  assert.equal(run.run.lifecycleStage, 'active');
  assert.deepEqual(page.jsErrors, []);

  // The trash in the dark theme, small laptop.
  await env.call('Experiments.TrashRuns', [ids.binned]);
  const dark = await env.open({ width: 1024, height: 640, colorScheme: 'dark' });
  await dark.goto(`${env.tern.url}/#/experiments/trash`);
  await dark.waitForSelector('[data-testid="trash-row"]');
  const overflow = await dark.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `trash overflows by ${overflow}px`);
  await screenshot(dark, 'runs-trash-dark-small');
  await dark.context().close();
  await page.context().close();
});

test('deleting a deployed version is refused in words; archive hides a version and unarchive brings it back', async () => {
  const gbdt = join(repoRoot, 'backend', 'gbdt', 'testdata');
  await env.call('Models.ImportPath', 'fraud', join(gbdt, 'lgb_binary.txt'));
  await env.call('Models.ImportPath', 'fraud', join(gbdt, 'xgb_binary.json'));
  // Serving v1 (a container when Docker runs, else a local process).
  const dep = await env.call('Deployments.Deploy', 'fraud', '1', { name: 'fraud-api' });
  assert.equal(dep.name, 'fraud-api');

  const page = await env.open({ width: 1280, height: 800 });
  page.on('dialog', (d) => assert.fail(`a native ${d.type()} dialog opened`));
  await page.goto(`${env.tern.url}/#/models/fraud`);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="version-row"]').length === 2);
  await page.locator('[data-testid="version-row"]').nth(1).click(); // v1, the served one
  await page.waitForSelector('[data-testid="delete-version"]:has-text("Delete v1")');
  await page.click('[data-testid="delete-version"]');
  await page.waitForSelector('[data-testid="app-dialog"]');
  assert.match(await page.textContent('#app-dialog-title'), /Delete fraud v1\?/);
  await page.click('[data-testid="app-dialog-ok"]');
  await page.waitForSelector('[data-testid="lifecycle-error"]');
  const refusal = await page.textContent('[data-testid="lifecycle-error"]');
  assert.match(refusal, /Cannot delete version 1 of "fraud": deployment fraud-api serves fraud v1; move it to another version or delete it first\./);
  await page.locator('[data-testid="model-lifecycle"]').scrollIntoViewIfNeeded();
  await screenshot(page, 'models-delete-refused');
  // Archiving it is refused the same way, and nothing changed.
  await page.click('[data-testid="archive-version"]');
  await page.waitForFunction(() => /Cannot archive version 1/.test(document.querySelector('[data-testid="lifecycle-error"]')?.textContent ?? ''));
  assert.equal(await page.locator('[data-testid="version-row"]').count(), 2);

  // v2 is not deployed: archive it; it leaves the list unless asked for.
  await page.locator('[data-testid="version-row"]').nth(0).click();
  await page.waitForSelector('[data-testid="archive-version"]:has-text("Archive v2")');
  await page.click('[data-testid="archive-version"]');
  await page.waitForSelector('[data-testid="unarchive-version"]');
  assert.ok(await page.$('[data-testid="version-archived-chip"]'), 'the open version shows it is archived');
  await page.locator('[data-testid="version-row"]').nth(1).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="version-row"]').length === 1);
  assert.match(await page.textContent('[data-testid="toggle-archived"]'), /Show archived \(1\)/);
  await page.click('[data-testid="toggle-archived"]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="version-row"]').length === 2);
  await page.locator('[data-testid="version-row"]').nth(0).click();
  await page.click('[data-testid="unarchive-version"]');
  await page.waitForSelector('[data-testid="archive-version"]:has-text("Archive v2")');
  const v2 = (await env.call('Models.Get', 'fraud')).versions.find((v) => v.version === 2);
  assert.ok(!v2.archived, 'unarchived');
  assert.deepEqual(page.jsErrors, []);

  const dark = await env.open({ width: 1024, height: 640, colorScheme: 'dark' });
  await dark.goto(`${env.tern.url}/#/models/fraud`);
  await dark.waitForSelector('[data-testid="model-lifecycle"]');
  await dark.locator('[data-testid="version-row"]').nth(1).click();
  await dark.click('[data-testid="delete-version"]');
  await dark.click('[data-testid="app-dialog-ok"]');
  await dark.waitForSelector('[data-testid="lifecycle-error"]');
  await dark.locator('[data-testid="model-lifecycle"]').scrollIntoViewIfNeeded();
  const overflow = await dark.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `models page overflows by ${overflow}px`);
  await screenshot(dark, 'models-delete-refused-dark-small');
  await dark.context().close();
  await page.context().close();
});

test('prediction-log retention: the dry run says what it deletes and what a monitor still needs; the run keeps that unless told in words', async () => {
  const [dep] = await env.call('Deployments.List');
  assert.ok(dep, 'the deployment of the test above');
  // A monitor on it that reads the newest 30 requests.
  const dir = mkdtempSync(join(tmpdir(), 'tern-retention-e2e-'));
  const cols = ['Column_0', 'Column_1', 'Column_2', 'Column_3', 'Column_4', 'Column_5'];
  const rows = Array.from({ length: 50 }, (_, i) => cols.map((_, j) => ((i * 7 + j * 3) % 11) - 5).join(','));
  writeFileSync(join(dir, 'train.csv'), [cols.join(','), ...rows].join('\n') + '\n');
  const version = await env.call('Datasets.ImportPath', join(dir, 'train.csv'), { name: 'fraud-train' });
  await env.call('Monitoring.CreateMonitor', { name: 'fraud traffic', kind: 'deployment', deployment: dep.id, refVersion: version.id, window: { lastN: 30 } });

  for (let i = 0; i < 40; i++) {
    const r = await env.call('Deployments.Predict', dep.id, 'application/json', '{"instances":[[1,2,3,4,5,6]]}');
    assert.equal(r.status, 200, JSON.stringify(r));
  }
  // The log is written in batches off the request path.
  const policy = { global: { keepDays: 0, keepBytes: 0 }, everyHours: 0 };
  for (let t = 0; ; t++) {
    const est = await env.call('Retention.Preview', policy);
    if (est.records >= 40) break;
    assert.ok(t < 100, `only ${est.records} predictions logged`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // What the dry run should say for "keep at most 2 kB": the limit takes
  // more than the 10 requests outside the monitor's window, so some of
  // what it takes is needed (the backend tests work the figures out).
  const all = await env.call('Retention.Preview', policy);
  const limited = await env.call('Retention.Preview', { ...policy, global: { keepDays: 0, keepBytes: 2000 } });
  assert.equal(limited.deleteRecords, all.records - 30, JSON.stringify(limited));
  assert.ok(limited.neededRecords > 0, JSON.stringify(limited));

  const page = await env.open({ width: 1280, height: 800 });
  page.on('dialog', (d) => assert.fail(`a native ${d.type()} dialog opened`));
  await page.goto(`${env.tern.url}/#/settings`);
  await page.waitForSelector('[data-testid="retention-estimate"]');
  assert.match(await page.textContent('[data-testid="retention-estimate"]'), new RegExp(`${all.records} logged predictions .* are all within the limits`));
  await page.fill('[data-testid="retention-gb"]', '0.000002');
  await page.click('[data-testid="retention-preview"]');
  await page.waitForFunction(() => /Would delete/.test(document.querySelector('[data-testid="retention-estimate"]')?.textContent ?? ''));
  const figure = (await page.textContent('[data-testid="retention-estimate"]')).replace(/\s+/g, ' ');
  assert.match(figure, new RegExp(`Would delete ${limited.deleteRecords} of ${all.records} logged predictions`));
  const needed = (await page.textContent('[data-testid="retention-needed"]')).replace(/\s+/g, ' ');
  assert.match(needed, new RegExp(`Keeps ${limited.neededRecords} more .* monitor "fraud traffic" \\(last 30 requests\\) needs ${limited.neededRecords}`));
  assert.match(await page.textContent('[data-testid="retention-table"]'), /fraud-api/);
  await page.locator('[data-testid="retention-card"]').scrollIntoViewIfNeeded();
  await screenshot(page, 'settings-retention');

  // The run keeps what the monitor reads, and says so.
  await page.click('[data-testid="retention-run"]');
  await page.waitForSelector('[data-testid="app-dialog"]');
  const ask = (await page.textContent('[data-testid="app-dialog"]')).replace(/\s+/g, ' ');
  assert.match(ask, new RegExp(`${limited.deleteRecords} logged predictions .* ${limited.neededRecords} that monitors or labels still need are kept`));
  await page.click('[data-testid="app-dialog-ok"]');
  await page.waitForFunction(() => /deleted/.test(document.querySelector('[data-testid="retention-outcome"]')?.textContent ?? ''), null, { timeout: 60_000 });
  const outcome = (await page.textContent('[data-testid="retention-outcome"]')).replace(/\s+/g, ' ');
  assert.match(outcome, new RegExp(`deleted ${limited.deleteRecords} predictions — ${limited.deleteRecords} from fraud-api; kept ${limited.neededRecords} that monitors or labels still need`));
  let after = await env.call('Retention.Preview', policy);
  assert.equal(after.records, all.records - limited.deleteRecords, 'the count dropped by what the dry run said');
  const window = await env.call('Deployments.Predictions', dep.id, 100);
  assert.ok(window.length >= 30, `the monitor's window is whole (${window.length})`);

  // Deleting what the monitor needs is a choice ticked and typed.
  await page.click('[data-testid="retention-preview"]');
  await page.check('[data-testid="retention-delete-needed"]');
  await page.click('[data-testid="retention-run"]');
  await page.waitForSelector('[data-testid="app-dialog-input"]');
  assert.match(await page.textContent('[data-testid="app-dialog"]'), /monitor "fraud traffic" \(last 30 requests\)/);
  await screenshot(page, 'settings-retention-delete-needed');
  await page.fill('[data-testid="app-dialog-input"]', 'yes');
  await page.click('[data-testid="app-dialog-ok"]');
  await page.waitForTimeout(300);
  assert.ok(await page.$('[data-testid="app-dialog"]'), 'a word other than delete does not go ahead');
  await page.fill('[data-testid="app-dialog-input"]', 'delete');
  await page.click('[data-testid="app-dialog-ok"]');
  await page.waitForFunction(
    (n) => new RegExp(`deleted ${n} predictions`).test(document.querySelector('[data-testid="retention-outcome"]')?.textContent ?? ''),
    limited.neededRecords,
    { timeout: 60_000 },
  );
  assert.match(await page.textContent('[data-testid="retention-outcome"]'), new RegExp(`\\(${limited.neededRecords} of them needed by monitors or labels\\)`));
  after = await env.call('Retention.Preview', policy);
  assert.equal(after.records, all.records - limited.deleteRecords - limited.neededRecords);
  const trail = await env.call('Audit.List', { action: 'prediction_log.retention', limit: 5 });
  assert.ok(trail.some((r) => /needed by monitors or labels/.test(r.after)), JSON.stringify(trail.map((r) => r.after)));
  assert.deepEqual(page.jsErrors, []);

  const dark = await env.open({ width: 1024, height: 640, colorScheme: 'dark' });
  await dark.goto(`${env.tern.url}/#/settings`);
  await dark.waitForSelector('[data-testid="retention-outcome"]');
  await dark.locator('[data-testid="retention-card"]').scrollIntoViewIfNeeded();
  const overflow = await dark.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `settings overflow by ${overflow}px`);
  await screenshot(dark, 'settings-retention-dark-small');
  await dark.context().close();
  await page.context().close();
});
