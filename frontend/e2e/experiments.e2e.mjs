// Experiments in a real browser against a real `tern serve`: runs logged
// through the MLflow REST API, the runs table filtered with an OR query,
// a bad query pointing at its token, a run's page, and a comparison.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useTern, screenshot } from './harness.mjs';

const env = useTern({ setup: logRuns });
const runs = {};

async function mlflow(path, body) {
  const res = await fetch(env.tern.url + '/api/2.0/mlflow/' + path, {
    method: 'POST',
    headers: { Authorization: 'Bearer ' + env.tern.token, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  assert.equal(res.status, 200, JSON.stringify(json));
  return json;
}

// The runs every test here reads, logged once through the MLflow REST API.
async function logRuns() {
  const { experiment_id: exp } = await mlflow('experiments/create', { name: 'fraud' });
  const specs = [
    { name: 'gbdt-risk', model: 'gbdt', team: 'risk', auc: 0.95, lr: '0.1' },
    { name: 'linear-growth', model: 'linear', team: 'growth', auc: 0.81, lr: '0.01' },
    { name: 'mlp-growth', model: 'mlp', team: 'growth', auc: 0.88, lr: '0.001' },
    { name: 'gbdt-growth', model: 'gbdt', team: 'growth', auc: 0.9, lr: '0.05' },
  ];
  for (const s of specs) {
    const { run } = await mlflow('runs/create', { experiment_id: exp, run_name: s.name, start_time: Date.now() });
    const id = run.info.run_id;
    runs[s.name] = id;
    const metrics = [];
    for (let step = 0; step < 50; step++) {
      metrics.push({ key: 'loss', value: 1 / (step + 1) + s.auc / 10, timestamp: Date.now(), step });
    }
    metrics.push({ key: 'auc', value: s.auc, timestamp: Date.now(), step: 50 });
    await mlflow('runs/log-batch', {
      run_id: id,
      metrics,
      params: [{ key: 'model', value: s.model }, { key: 'lr', value: s.lr }],
      tags: [{ key: 'team', value: s.team }],
    });
    await mlflow('runs/update', { run_id: id, status: 'FINISHED', end_time: Date.now() });
  }
}

const rowNames = (page) => page.$$eval('[data-testid="run-row"] button', (els) => els.map((e) => e.textContent.trim()));

test('filter the runs table with an OR query, then compare two runs', async () => {
  const page = await env.open();
  await page.click('[data-nav="experiments"]');
  await page.waitForSelector('[data-testid="run-row"] button');
  assert.equal((await rowNames(page)).length, 4);

  // a bad query says where it is wrong, and filters nothing
  await page.fill('[data-testid="query"]', 'metrics.auc > 0.9 and (params.model = "gbdt" or');
  await page.press('[data-testid="query"]', 'Enter');
  await page.waitForSelector('[data-testid="query-error"]');
  assert.match(await page.textContent('[data-testid="query-error"]'), /Column \d+: .*query ended/);
  await page.fill('[data-testid="query"]', 'metrics.auc ~ 0.9');
  await page.press('[data-testid="query"]', 'Enter');
  await page.waitForFunction(() => document.querySelector('[data-testid="query-error-token"]')?.textContent === '~');
  assert.match(await page.textContent('[data-testid="query-error"]'), /Column 13/);
  await screenshot(page, 'experiments-query-error');

  // OR across a param and a tag, grouped with AND
  await page.fill('[data-testid="query"]', 'metrics.auc >= 0.85 and (params.model = "mlp" or tags.team = "risk")');
  await page.press('[data-testid="query"]', 'Enter');
  await page.waitForFunction(() => document.querySelector('[data-testid="run-count"]')?.textContent.startsWith('2 runs'));
  assert.equal(await page.$('[data-testid="query-error"]'), null);
  assert.deepEqual((await rowNames(page)).sort(), ['gbdt-risk', 'mlp-growth']);
  await screenshot(page, 'experiments-or-filter');

  // sort by a metric column
  await page.fill('[data-testid="query"]', '');
  await page.press('[data-testid="query"]', 'Enter');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="run-row"] button').length === 4);

  // select two and compare: only differences by default
  const boxes = await page.$$('[data-testid="run-row"] input[type="checkbox"]');
  await boxes[0].check();
  await boxes[1].check();
  await page.click('[data-testid="compare-button"]');
  await page.waitForSelector('[data-testid="compare-row"]');
  const cols = await page.$$eval('[data-testid="compare-row"] th', (els) => els.map((e) => e.textContent));
  assert.ok(cols.includes('params.model') || cols.includes('params.lr'), cols.join(','));
  assert.ok(cols.includes('metrics.auc'));
  await page.waitForSelector('[data-testid="metric-chart"] svg');
  await screenshot(page, 'experiments-compare');
  const shown = cols.length;
  await page.uncheck('[data-testid="only-diff"]');
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="compare-row"]').length > n, shown);

  assert.deepEqual(page.jsErrors, [], 'no script errors');
  await page.context().close();
});

test('a run page shows params, metric charts and notes', async () => {
  const page = await env.open({ colorScheme: 'dark' });
  await page.evaluate((id) => (location.hash = '/experiments/run/' + id), runs['gbdt-risk']);
  await page.waitForSelector('[data-testid="run-detail"]');
  await page.waitForSelector('[data-testid="metric-chart"] svg');
  const text = await page.textContent('[data-testid="run-detail"]');
  assert.match(text, /gbdt/);
  assert.match(text, /0\.95/);
  await page.fill('[aria-label="Run notes"]', '## Why\nbest so **far** <b>raw</b>');
  await page.click('text=Save note');
  await page.waitForSelector('[data-testid="run-note"] strong');
  const note = await page.innerHTML('[data-testid="run-note"]');
  assert.ok(!note.includes('<b>'), 'no raw HTML from notes');
  await screenshot(page, 'experiments-run-dark');
  // Delete asks in the app's own dialog; Cancel keeps the run.
  page.on('dialog', (d) => assert.fail(`a native ${d.type()} dialog opened`));
  await page.click('button:has-text("Delete")');
  await page.waitForSelector('[data-testid="app-dialog"]');
  assert.match(await page.textContent('#app-dialog-title'), /Delete run gbdt-risk\?/);
  await page.click('[data-testid="app-dialog-cancel"]');
  await page.waitForSelector('[data-testid="app-dialog"]', { state: 'detached' });
  assert.ok(await page.$('[data-testid="run-detail"]'), 'the run is still there');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `run page overflows by ${overflow}px`);
  assert.deepEqual(page.jsErrors, [], 'no script errors');
  await page.context().close();
});

test('ten thousand runs stay a few hundred rows in the DOM', async () => {
  const { experiment_id: exp } = await mlflow('experiments/create', { name: 'many' });
  await Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      for (let i = w; i < 10_000; i += 8) {
        const { run } = await mlflow('runs/create', { experiment_id: exp, run_name: `r${i}` });
        await mlflow('runs/log-batch', { run_id: run.info.run_id, metrics: [{ key: 'score', value: i, timestamp: 1, step: 0 }] });
      }
    }),
  );
  const page = await env.open({ width: 1024, height: 640 });
  await page.click('[data-nav="experiments"]');
  await page.selectOption('[data-testid="experiment-select"]', exp);
  await page.waitForFunction(() => document.querySelector('[data-testid="runs-table"]')?.dataset.total === '10000');
  const t0 = Date.now();
  await page.$eval('[data-testid="runs-table"]', (el) => (el.scrollTop = el.scrollHeight / 2));
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="run-row"] button')].length > 5);
  const rendered = await page.$$eval('[data-testid="run-row"]', (els) => els.length);
  assert.ok(rendered < 200, `${rendered} rows in the DOM`);
  assert.ok(Date.now() - t0 < 5000, 'rows in the middle appear quickly');
  // the header stays in view while scrolling
  const headTop = await page.$eval('[data-testid="runs-table"] [role="row"]', (el) => el.getBoundingClientRect().top);
  const tableTop = await page.$eval('[data-testid="runs-table"]', (el) => el.getBoundingClientRect().top);
  assert.ok(Math.abs(headTop - tableTop) < 2, 'sticky header');
  await screenshot(page, 'experiments-10k-1024x640');
  await page.context().close();
});
