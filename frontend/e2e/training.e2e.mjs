// Training in a real browser against a real `tern serve`: drop a labelled
// CSV, open "Train a model", start, watch the curve grow while the job
// runs (in Docker when the engine is up, else as a local process), and
// land on the finished run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useTern, dropOn, screenshot } from './harness.mjs';

const env = useTern();

async function dropLabelled(page, rows) {
  const dt = await page.evaluateHandle((rows) => {
    // A deterministic pseudo-random generator: the same file every run.
    let s = 42;
    const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const parts = ['a,b,colour,label\n'];
    const colours = ['red', 'green', 'blue'];
    for (let i = 0; i < rows; i++) {
      const a = rnd();
      const b = rnd();
      const c = i % 3;
      parts.push(`${a.toFixed(4)},${b.toFixed(4)},${colours[c]},${a + 0.5 * b + 0.2 * c > 0.1 ? 'yes' : 'no'}\n`);
    }
    const dt = new DataTransfer();
    dt.items.add(new File(parts, 'churn.csv', { type: 'text/csv' }));
    return dt;
  }, rows);
  await dropOn(page, '[data-testid="drop-zone"]', dt);
}

test('train from a dataset, watch the live curve, land on the finished run', async () => {
  const page = await env.open({ width: 1280, height: 800 });
  await page.click('[data-nav="datasets"]');
  await dropLabelled(page, 20_000);
  await page.waitForSelector('[data-testid="column-table"]', { timeout: 60_000 });

  await page.click('button:has-text("Train a model")');
  await page.waitForSelector('[data-testid="train-start"]');
  assert.equal(await page.inputValue('[data-testid="train-target"]'), 'label', 'the column named like a target is proposed');
  assert.equal(await page.isDisabled('[data-testid="train-start"]'), true, 'nothing trains before the target is confirmed');
  await page.click('[data-testid="target-confirm"]');
  // Enough rounds that the curve visibly grows before the end.
  await page.click('text=Show parameters and resources');
  await page.fill('[data-param="max_iter"]', '400');
  await page.fill('[data-param="learning_rate"]', '0.05');
  await page.selectOption('[data-param="early_stopping"]', 'off');
  await screenshot(page, 'training-form');
  await page.click('[data-testid="train-start"]');

  await page.waitForSelector('[data-testid="live-job"]');
  // Sample the curve while the job runs: it must grow, not jump to the end.
  const seen = new Set();
  const deadline = Date.now() + 120_000;
  let state = '';
  while (Date.now() < deadline) {
    const n = Number(await page.getAttribute('[data-testid="live-curve"]', 'data-points'));
    state = await page.getAttribute('[data-testid="live-job"]', 'data-state');
    if (n > 0 && state === 'running') seen.add(n);
    if (seen.size === 2) await screenshot(page, 'training-live');
    if (['succeeded', 'failed', 'cancelled', 'crashed'].includes(state)) break;
    await page.waitForTimeout(100);
  }
  const reason = (await page.$('[data-testid="job-reason"]')) ? await page.textContent('[data-testid="job-reason"]') : '';
  assert.equal(state, 'succeeded', `the job ended ${state}: ${reason}`);
  assert.ok(seen.size >= 2, `the curve grew while training (saw ${[...seen].join(', ')} points)`);
  assert.equal(Number(await page.getAttribute('[data-testid="live-curve"]', 'data-points')), 400);
  assert.match(await page.textContent('[data-testid="final-metrics"]'), /roc auc\s*0\.9\d+/);
  await screenshot(page, 'training-done');

  await page.click('[data-testid="open-run"]');
  await page.waitForSelector('[data-testid="run-detail"]');
  assert.match(page.url(), /#\/experiments\/run\/[0-9a-z]+$/);
  assert.deepEqual(page.jsErrors, []);
  await screenshot(page, 'training-run');

  // Register through the app's own dialog, never the browser's prompt().
  let nativeDialog = '';
  page.on('dialog', (d) => {
    nativeDialog = d.type();
    d.dismiss();
  });
  assert.equal(await page.textContent('[data-testid="run-dataset"]'), 'churn v1', 'the dataset is shown by name');
  await page.click('[data-testid="register-run"]');
  await page.waitForSelector('[data-testid="app-dialog"]');
  const dialog = await page.$eval('[data-testid="app-dialog"]', (el) => ({
    role: el.getAttribute('role'),
    modal: el.getAttribute('aria-modal'),
    label: document.getElementById(el.getAttribute('aria-labelledby'))?.textContent,
    focused: document.activeElement?.getAttribute('data-testid'),
  }));
  assert.deepEqual(dialog, { role: 'dialog', modal: 'true', label: 'Register this model', focused: 'app-dialog-input' });
  assert.equal(await page.inputValue('[data-testid="app-dialog-input"]'), 'churn', "the dataset's name is the default model name");
  await screenshot(page, 'training-register-dialog');
  // Esc cancels and gives focus back to the button.
  await page.keyboard.press('Escape');
  await page.waitForSelector('[data-testid="app-dialog"]', { state: 'detached' });
  await page.waitForFunction(() => document.activeElement?.getAttribute('data-testid') === 'register-run');
  // Tab stays inside the dialog (input → Cancel → Register → input).
  await page.keyboard.press('Enter');
  await page.waitForSelector('[data-testid="app-dialog-input"]:focus');
  for (const want of ['app-dialog-cancel', 'app-dialog-ok', 'app-dialog-input']) {
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), want);
  }
  // An empty name is refused in words; Enter with a name registers.
  await page.fill('[data-testid="app-dialog-input"]', '  ');
  await page.keyboard.press('Enter');
  assert.match(await page.textContent('[data-testid="app-dialog"] [role="alert"]'), /cannot be empty/);
  await page.fill('[data-testid="app-dialog-input"]', 'churn-gbdt');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => location.hash === '#/models/churn-gbdt');
  assert.equal(nativeDialog, '', 'no native prompt/confirm/alert');
  assert.deepEqual(page.jsErrors, []);

  // The model page with a trained version's dozen metrics: no sideways
  // scroll of the main area, numbers at four significant digits.
  await page.waitForSelector('[data-testid="version-row"]');
  // the lineage names the dataset version and the run, and links to them
  await page.waitForSelector('[data-testid="lineage"] a[href^="#/datasets/"]:has-text("churn v1")');
  const lineage = await page.textContent('[data-testid="lineage"]');
  assert.match(lineage, /churn v1 · gbdt · \d\d:\d\d/);
  assert.doesNotMatch(lineage, /[0-9a-z]{26}/, 'no raw IDs in the lineage');
  for (const [width, height] of [[1280, 800], [1024, 640]]) {
    for (const scheme of ['light', 'dark']) {
      await page.setViewportSize({ width, height });
      await page.emulateMedia({ colorScheme: scheme });
      await page.waitForTimeout(100);
      await screenshot(page, `models-trained-${width}x${height}-${scheme}`);
      const over = await page.$eval('main', (m) => m.scrollWidth - m.clientWidth);
      assert.ok(over <= 0, `the Models page at ${width}px scrolls sideways by ${over}px`);
    }
  }
  const cells = await page.$$eval('[data-testid="version-row"] td.num', (els) => els.map((e) => e.textContent));
  assert.ok(cells.length >= 4, cells.join(' '));
  for (const c of cells) assert.ok(c.replace(/[^0-9]/g, '').replace(/^0+/, '').replace(/0+$/, '').length <= 4, `four significant digits: ${c}`);
});

test('bring your own image: a missing image fails fast, in words', async () => {
  const page = await env.open({ width: 1024, height: 640, colorScheme: 'dark' });
  await page.click('[data-nav="datasets"]');
  await page.click('[data-dataset="churn"]', { timeout: 60_000 });
  await page.click('button:has-text("Train a model")', { timeout: 60_000 });
  await page.click('label:has([data-testid="model-own"])', { timeout: 60_000 });
  await page.click('[data-testid="target-confirm"]');
  await page.fill('[data-testid="own-image"]', 'tern-e2e/never-built:1');
  await screenshot(page, 'training-own-image');
  await page.click('[data-testid="train-start"]');
  await page.waitForSelector('[data-testid="live-job"][data-state="failed"]', { timeout: 60_000 });
  const reason = await page.textContent('[data-testid="job-reason"]');
  assert.match(reason, /not found locally.*never pulls/);
  await screenshot(page, 'training-own-image-failed');
});
