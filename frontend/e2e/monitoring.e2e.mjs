// Monitoring in a real browser against a real `tern serve`: deploy a model,
// import its training data, send it drifted traffic, create a monitor from
// the UI, run it, see the alert, open its report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTern, screenshot, repoRoot } from './harness.mjs';

const env = useTern();

const api = (name, ...args) => env.call(name, ...args);

// A seeded normal generator so the test is the same every run.
function gaussian(seed) {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 1) / 4294967297;
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

const cols = ['Column_0', 'Column_1', 'Column_2', 'Column_3', 'Column_4', 'Column_5'];

test('drifted traffic raises an alert that opens its report', async () => {
  // The model and its deployment.
  await api('Models.ImportPath', 'fraud', join(repoRoot, 'backend', 'gbdt', 'testdata', 'lgb_binary.txt'));
  let dep = await api('Deployments.Deploy', 'fraud', '1', {});
  for (let i = 0; i < 120 && dep.state !== 'running'; i++) {
    await new Promise((r) => setTimeout(r, 500));
    dep = await api('Deployments.Get', dep.id);
  }
  assert.equal(dep.state, 'running', dep.reason);

  // Its training data: 2,000 rows of N(0,1) in each input.
  const dir = mkdtempSync(join(tmpdir(), 'tern-mon-e2e-'));
  const g = gaussian(7);
  const lines = [cols.join(',')];
  for (let i = 0; i < 2000; i++) lines.push(cols.map(() => g().toFixed(4)).join(','));
  const csv = join(dir, 'train.csv');
  writeFileSync(csv, lines.join('\n') + '\n');
  const version = await api('Datasets.ImportPath', csv, { name: 'fraud-train' });

  // Drifted traffic: every input moved by 2.5 standard deviations.
  const d = gaussian(11);
  for (let r = 0; r < 40; r++) {
    const data = Array.from({ length: 10 }, () => cols.map(() => d() + 2.5));
    const res = await fetch(`${dep.endpoint}/invocations`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ dataframe_split: { columns: cols, data } }),
    });
    assert.equal(res.status, 200, await res.text());
  }
  // The prediction log is written in batches off the request path.
  for (let i = 0; i < 60; i++) {
    const logged = await api('Deployments.Predictions', dep.id, 100);
    if ((logged ?? []).length >= 40) break;
    await new Promise((r) => setTimeout(r, 250));
  }

  // The deployed version's explanation on its training data: drift is then
  // weighted by how much the model leans on each column.
  const expl = await api('Explanations.Compute', { model: 'fraud', version: 1, datasetVersion: version.id });
  assert.equal(expl.columns.length, cols.length);

  const page = await env.open({ width: 1280, height: 800 });
  await page.click('[data-nav="monitoring"]');
  await page.click('button:has-text("New monitor")');
  await page.waitForSelector('[data-testid="monitor-form"]');
  await page.fill('[data-testid="monitor-form"] input >> nth=0', 'Fraud traffic');
  await page.locator('[data-testid="monitor-form"] select').nth(1).selectOption(dep.id);
  await page.locator('[data-testid="monitor-form"] select').nth(2).selectOption(version.id);
  await page.fill('[data-testid="weighted-threshold"]', '30');
  await page.click('[data-testid="monitor-form"] button[type="submit"]');
  await page.waitForSelector('[data-testid="monitors"] >> text=Fraud traffic', { timeout: 60_000 });

  await page.click('[data-testid="monitors"] button:has-text("Run now")');
  // The alert appears, and it links to the report it was raised on.
  const alert = page.locator('[data-testid="alerts"] a').first();
  await alert.waitFor({ timeout: 60_000 });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="alerts"] a').length >= 2);
  const alertTexts = (await page.locator('[data-testid="alerts"] a').allTextContents()).join(' | ');
  assert.match(alertTexts, /columns drifted/);
  assert.match(alertTexts, /100% of fraud v1's importance sits on drifted columns/);
  await page.goto(`${env.tern.url}/#/deployments`);
  await page.goto(`${env.tern.url}/#/monitoring`);
  await page.locator('[data-testid="alerts"] a').first().click();
  await page.waitForSelector('[data-testid="report"]');
  assert.match(await page.textContent('[data-testid="verdict"]'), /Dataset drift detected/);
  for (const c of cols) await page.waitForSelector(`[data-testid="report"] tr[data-column="${c}"]`);
  // The selected column's overlay chart is drawn by the backend.
  await page.waitForSelector('[data-testid="report"] .chart svg');
  assert.match(await page.textContent('[data-testid="report"] tr[data-column="Column_0"]'), /drift/);
  // Drift that matters: the weighted share, and every input's importance.
  assert.match(await page.textContent('[data-testid="weighted-drift"]'), /100% of fraud v1's importance sits on drifted columns/);
  const weights = await page.locator('[data-testid="importance-cell"]').allTextContents();
  assert.equal(weights.filter((w) => w.trim() !== '—').length, cols.length, weights.join(' | '));
  await screenshot(page, 'monitoring-report');

  // The exported report is one file with the same verdict and no rows.
  const reportId = decodeURIComponent(new URL(page.url()).hash.split('/').pop());
  const html = await api('Monitoring.ReportHTML', reportId);
  assert.match(html, /Dataset drift detected/);
  assert.ok(!/<link|src=/.test(html), 'self-contained');
  assert.deepEqual(page.jsErrors, []);

  // Two CSV files on this machine, compared from the UI.
  const shifted = [cols.join(',')];
  for (let i = 0; i < 500; i++) shifted.push(cols.map(() => (d() * 2).toFixed(4)).join(','));
  const cur = join(dir, 'this-week.csv');
  writeFileSync(cur, shifted.join('\n') + '\n');
  await page.click('button:has-text("Compare two CSV files")');
  await page.fill('[data-testid="compare-form"] input >> nth=0', csv);
  await page.fill('[data-testid="compare-form"] input >> nth=1', cur);
  await page.click('[data-testid="compare-form"] button[type="submit"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="report"] h2')?.textContent?.includes('Drift of a file'), null, { timeout: 60_000 });
  assert.match(await page.textContent('[data-testid="verdict"]'), /Dataset drift detected/);

  const dark = await env.open({ width: 1024, height: 640, colorScheme: 'dark' });
  // A person who has not opened Monitoring in this browser sees the alert
  // counted in the status bar; opening Monitoring marks it seen.
  await dark.waitForFunction(() => /[1-9]\d* new alerts?/.test(document.querySelector('[data-testid="status-alerts"]')?.textContent ?? ''), null, { timeout: 15_000 });
  await screenshot(dark, 'status-bar-alerts-dark-small');
  await dark.click('[data-testid="status-alerts"]');
  await dark.waitForSelector('main[data-area="monitoring"]');
  await dark.waitForFunction(() => /No new alerts/.test(document.querySelector('[data-testid="status-alerts"]')?.textContent ?? ''));
  await dark.goto(`${env.tern.url}/#/monitoring/report/${reportId}`);
  await dark.waitForSelector('[data-testid="report"] .chart svg');
  await screenshot(dark, 'monitoring-report-dark-small');

  // Realised performance: every answer carries X-Request-Id; a label file
  // keyed by it is dropped on the monitor and joined to the logged answers.
  const before = (await api('Deployments.Predictions', dep.id, 1000)).length;
  const labels = ['request_id,label'];
  for (let r = 0; r < 20; r++) {
    const res = await fetch(`${dep.endpoint}/invocations`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(r === 0 ? { 'X-Request-Id': 'caller-chosen-1' } : {}) },
      body: JSON.stringify({ dataframe_split: { columns: cols, data: [cols.map(() => d())] } }),
    });
    assert.equal(res.status, 200);
    const id = res.headers.get('x-request-id');
    assert.ok(id, 'the router returns a request ID');
    if (r === 0) assert.equal(id, 'caller-chosen-1', 'a sane caller ID is kept');
    const { predictions } = await res.json();
    const p = Array.isArray(predictions[0]) ? predictions[0][predictions[0].length - 1] : predictions[0];
    // Truth agrees with the model on all but every fourth request.
    const yes = p >= 0.5 ? 1 : 0;
    labels.push(`${id},${r % 4 === 0 ? 1 - yes : yes}`);
  }
  labels.push('never-served-a,1', 'never-served-b,0');
  for (let i = 0; i < 60; i++) {
    if ((await api('Deployments.Predictions', dep.id, 1000)).length >= before + 20) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const labelFile = join(dir, 'labels.csv');
  writeFileSync(labelFile, labels.join('\n') + '\n');
  await page.goto(`${env.tern.url}/#/monitoring`);
  await page.click('[data-testid="monitors"] button:has-text("Labels")');
  await page.waitForSelector('[data-testid="labels-panel"]');
  await page.setInputFiles('[data-testid="labels-drop"] input[type="file"]', labelFile);
  const info = page.locator('[data-testid="labels-info"]');
  await info.waitFor({ timeout: 60_000 });
  assert.match(await info.textContent(), /22 labels read; 20 matched a logged prediction, 2 did not/);
  await page.waitForSelector('[data-testid="perf-chart"] svg');
  assert.match(await page.textContent('[data-testid="labels-panel"]'), /accuracy overall/);
  await screenshot(page, 'monitoring-realised');
  // A malformed file is refused with its row.
  const badFile = join(dir, 'bad-labels.csv');
  writeFileSync(badFile, 'request_id,label\nx,1\nx,0\n');
  await page.setInputFiles('[data-testid="labels-drop"] input[type="file"]', badFile);
  await page.waitForSelector('[data-testid="labels-panel"] [role="alert"]');
  assert.match(await page.textContent('[data-testid="labels-panel"] [role="alert"]'), /Row 3: request ID "x" was already labelled on row 2/);

  // From traffic to training data: the labelled inputs become a dataset
  // version (fraud-train has no target column, so the label gets its
  // own), with lineage back to the deployment and the label file, and a
  // model trains on it.
  await page.fill('[data-testid="traffic-form"] [aria-label="Dataset name"]', 'fraud-from-traffic');
  await page.click('[data-testid="traffic-form"] button:has-text("Create dataset version")');
  const made = page.locator('[data-testid="traffic-made"]');
  await made.waitFor({ timeout: 60_000 });
  assert.match(await made.textContent(), /fraud-from-traffic v1: 20 rows from 20 requests\. Left out — 2 labels: no logged request with that ID\./);
  await screenshot(page, 'monitoring-traffic-dataset');
  const datasets = await api('Datasets.List');
  const fromTraffic = datasets.find((d) => d.name === 'fraud-from-traffic');
  assert.ok(fromTraffic, 'the dataset exists');
  const [tv] = await api('Datasets.Versions', fromTraffic.id);
  assert.deepEqual(tv.schema.map((c) => c.name), [...cols, 'label']);
  assert.equal(tv.schema.at(-1).role, 'target', 'the label column is the target');
  assert.match(tv.sourceName, /^Fraud traffic labelled \d{4}-\d\d-\d\d \d{4}\.csv$/);
  assert.equal(tv.origin.deployment, dep.id);
  assert.deepEqual(tv.origin.labels.map((l) => [l.name, l.labels]), [['labels.csv', 22]]);
  const job = await api('Training.Start', { datasetVersionId: tv.id, target: 'label', model: 'logistic', params: { seed: 1 } });
  let j = job;
  for (let i = 0; i < 600 && !['succeeded', 'failed', 'cancelled', 'crashed'].includes(j.state); i++) {
    await new Promise((r) => setTimeout(r, 200));
    j = await api('Training.Job', job.id);
  }
  assert.equal(j.state, 'succeeded', `training on the traffic ended ${j.state}: ${j.reason}`);
  // The link opens the new version.
  await made.locator('a').click();
  await page.waitForSelector('main[data-area="datasets"] [data-testid="version-origin"]');
  assert.match(await page.textContent('[data-testid="version-origin"]'), /From the labelled traffic of a deployment \(20 rows of 20 requests, answered by v1\) · labels from labels\.csv \(22\)/);
  await screenshot(page, 'dataset-from-traffic');
  assert.deepEqual(page.jsErrors, []);
});
