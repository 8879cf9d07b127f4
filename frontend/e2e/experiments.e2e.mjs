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
    // A 300-step loss curve (noisy, a second apart), and single values.
    const t0 = Date.now() - 300_000;
    const metrics = [];
    for (let step = 0; step < 300; step++) {
      const noise = 0.02 * Math.sin(step * 1.7 + s.auc * 10);
      metrics.push({ key: 'loss', value: 1 / (step / 10 + 1) + s.auc / 10 + noise, timestamp: t0 + step * 1000, step });
    }
    metrics.push({ key: 'auc', value: s.auc + 0.0003456789, timestamp: Date.now(), step: 300 });
    metrics.push({ key: 'accuracy', value: s.auc - 0.05, timestamp: Date.now(), step: 300 });
    metrics.push({ key: 'test_log_loss', value: 1 - s.auc, timestamp: Date.now(), step: 300 });
    // log-batch takes at most 1000 metrics a call
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
  // Once drawn, the table must never empty while it reloads (the column
  // list arriving after the first page used to blank it for a moment).
  await page.evaluate(() => {
    window.fewestRows = Infinity;
    new MutationObserver(() => {
      const n = document.querySelectorAll('[data-testid="run-row"] button').length;
      if (n > 0 || window.fewestRows !== Infinity) window.fewestRows = Math.min(window.fewestRows, n);
    }).observe(document.body, { childList: true, subtree: true });
  });
  await page.click('[data-nav="experiments"]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="run-row"] button').length === 4);
  await page.waitForTimeout(1000);
  assert.equal((await rowNames(page)).length, 4);
  assert.equal(await page.evaluate(() => window.fewestRows), 4, 'the runs table emptied while reloading');

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

  // Save the view through the app's dialog: the query is the proposed name; Esc keeps nothing.
  page.on('dialog', (d) => assert.fail(`a native ${d.type()} dialog opened`));
  await page.click('button:has-text("Save view")');
  await page.waitForSelector('[data-testid="app-dialog"]');
  assert.equal(await page.inputValue('[data-testid="app-dialog-input"]'), 'metrics.auc >= 0.85 and (params.model =…');
  await page.keyboard.press('Escape');
  await page.waitForSelector('[data-testid="app-dialog"]', { state: 'detached' });
  assert.equal(await page.$$eval('[aria-label="Saved views"] option', (os) => os.length), 1, 'Esc saved nothing');
  await page.click('button:has-text("Save view")');
  await page.fill('[data-testid="app-dialog-input"]', 'good growth');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => [...document.querySelectorAll('[aria-label="Saved views"] option')].some((o) => o.value === 'good growth'));

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
  // single values are a table of numbers with the best marked; loss is overlaid as curves
  await page.waitForSelector('[data-testid="compare-metric"][data-metric="auc"]');
  const metricRows = await page.$$eval('[data-testid="compare-metric"]', (els) => els.map((e) => e.dataset.metric));
  assert.deepEqual(metricRows.sort(), ['accuracy', 'auc', 'loss', 'test_log_loss']);
  const best = await page.$eval('[data-testid="compare-metric"][data-metric="auc"] td[data-best]', (el) => el.textContent);
  const aucs = await page.$$eval('[data-testid="compare-metric"][data-metric="auc"] td', (els) => els.map((e) => e.textContent));
  assert.equal(best, [...aucs].sort().at(-1), 'the highest AUC is marked');
  assert.ok(aucs.every((t) => /^0\.\d{1,4}$/.test(t)), `four significant digits: ${aucs}`);
  const lossBest = await page.$eval('[data-testid="compare-metric"][data-metric="test_log_loss"] td[data-best]', (el) => el.textContent);
  const losses = await page.$$eval('[data-testid="compare-metric"][data-metric="test_log_loss"] td', (els) => els.map((e) => e.textContent));
  assert.equal(lossBest, [...losses].sort()[0], 'the lowest loss is marked');
  await page.waitForSelector('[data-metric="loss"] [data-testid="metric-chart"] canvas');
  const charts = await page.$$eval('[data-testid="metric-chart"]', (els) => els.map((e) => [e.getAttribute('aria-label'), e.dataset.series, e.dataset.points]));
  assert.deepEqual(charts, [['loss', '2', '300']], 'only loss is a curve, both runs overlaid');
  await screenshot(page, 'experiments-compare');
  const shown = cols.length;
  await page.uncheck('[data-testid="only-diff"]');
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="compare-row"]').length > n, shown);

  assert.deepEqual(page.jsErrors, [], 'no script errors');
  await page.context().close();
});

test('a run page shows params, metric values and curves, and notes', async () => {
  const page = await env.open({ colorScheme: 'dark' });
  await page.evaluate((id) => (location.hash = '/experiments/run/' + id), runs['gbdt-risk']);
  await page.waitForSelector('[data-testid="run-detail"]');
  await page.waitForSelector('[data-testid="metric-chart"] canvas');
  const text = await page.textContent('[data-testid="run-detail"]');
  assert.match(text, /gbdt/);
  // single values are numbers in a table (four significant digits), not one-point charts
  const values = await page.$$eval('[data-testid="metric-values"] tr', (els) => els.map((e) => [e.querySelector('th').textContent, e.querySelector('td').textContent]));
  assert.deepEqual(values, [['accuracy', '0.9'], ['auc', '0.9503'], ['test_log_loss', '0.05']]);
  const charts = await page.$$eval('[data-testid="metric-chart"]', (els) => els.map((e) => [e.getAttribute('aria-label'), e.dataset.points]));
  assert.deepEqual(charts, [['loss', '300']]);
  await screenshot(page, 'experiments-run-curves-dark');
  // the ID is only in its copyable field
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.click('[data-testid="copy-run-id"]');
  await page.waitForSelector('[data-testid="copy-run-id"]:has-text("Copied")');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), runs['gbdt-risk']);

  // the legend shows the latest values until the cursor is over the plot…
  const idle = await page.$$eval('[data-metric="loss"] .u-legend .u-value', (els) => els.map((e) => e.textContent));
  assert.deepEqual(idle, ['299', await page.$eval('[data-metric="loss"] .latest b', (el) => el.textContent)]);
  // …then the value at the cursor, in the app's number format
  const box = await (await page.$('[data-metric="loss"] .u-over')).boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  const hovered = await page.$$eval('[data-metric="loss"] .u-legend .u-value', (els) => els.map((e) => e.textContent));
  assert.match(hovered[0], /^1\d\d$/, `the step under the cursor: ${hovered}`);
  assert.match(hovered[1], /^0\.\d{1,4}$/, `the loss under the cursor: ${hovered}`);
  // zoom: drag across a third of the plot, the x range shrinks; double-click resets
  // (the axes are drawn on the canvas; the chart states its x range in data-x-range)
  const chart = '[data-metric="loss"] [data-testid="metric-chart"]';
  const full = await page.getAttribute(chart, 'data-x-range');
  assert.equal(full, '0 – 299');
  await page.mouse.move(box.x + box.width * 0.2, box.y + 20);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.5, box.y + 20, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction(([c, f]) => document.querySelector(c)?.dataset.xRange !== f, [chart, full]);
  const [lo, hi] = (await page.getAttribute(chart, 'data-x-range')).split(' – ').map(Number);
  assert.ok(lo > 30 && hi < 200 && hi - lo < 150, `zoomed to ${lo}–${hi}`);
  await page.mouse.dblclick(box.x + box.width / 2, box.y + 20);
  await page.waitForFunction(([c, f]) => document.querySelector(c)?.dataset.xRange === f, [chart, full]);
  // log y, smoothing and a time axis redraw the same curve
  await page.check('[data-testid="chart-log"]');
  await page.fill('[data-testid="chart-smoothing"]', '0.9');
  await page.selectOption('[data-testid="chart-x"]', 'relative');
  await page.waitForFunction((c) => document.querySelector(c)?.dataset.xRange === '0s – 4m 59s', chart);
  assert.equal(await page.getAttribute('[data-metric="loss"] [data-testid="metric-chart"]', 'data-points'), '300');
  await screenshot(page, 'experiments-run-log-smoothed-dark');

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
  assert.match(await page.textContent('#app-dialog-title'), /Move run gbdt-risk to the trash\?/);
  await page.click('[data-testid="app-dialog-cancel"]');
  await page.waitForSelector('[data-testid="app-dialog"]', { state: 'detached' });
  assert.ok(await page.$('[data-testid="run-detail"]'), 'the run is still there');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `run page overflows by ${overflow}px`);
  assert.deepEqual(page.jsErrors, [], 'no script errors');
  await page.context().close();
});

test('the run page and compare hold at 1280×800 and 1024×640 in both themes', async () => {
  for (const [width, height] of [[1280, 800], [1024, 640]]) {
    for (const colorScheme of ['light', 'dark']) {
      const page = await env.open({ width, height, colorScheme });
      for (const [name, hash, ready] of [
        ['run', '/experiments/run/' + runs['mlp-growth'], '[data-metric="loss"] canvas'],
        ['compare', `/experiments/compare/${runs['gbdt-risk']},${runs['mlp-growth']},${runs['linear-growth']}`, '[data-metric="loss"] canvas'],
      ]) {
        await page.evaluate((h) => (location.hash = h), hash);
        await page.waitForSelector(ready);
        await page.waitForTimeout(150);
        await screenshot(page, `experiments-${name}-${width}x${height}-${colorScheme}`);
        const over = await page.$eval('main', (m) => m.scrollWidth - m.clientWidth);
        assert.ok(over <= 0, `${name} at ${width}px: the main area scrolls sideways by ${over}px`);
      }
      assert.deepEqual(page.jsErrors, [], 'no script errors');
      await page.context().close();
    }
  }
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
