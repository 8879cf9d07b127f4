// A file dropped while another area is open is not lost: the window takes
// the drop wherever it lands, imports the file as a dataset and opens the
// new version's page (the same path the Datasets drop zone uses).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useTern, dropOn, screenshot } from './harness.mjs';

const env = useTern();

// A small CSV built in the page, as a person's drag would deliver it.
const csv = (page, name) =>
  page.evaluateHandle((name) => {
    const parts = ['sepal_length,sepal_width,species\n'];
    const species = ['setosa', 'versicolor', 'virginica'];
    for (let i = 0; i < 300; i++) parts.push(`${(4.3 + (i % 36) / 10).toFixed(1)},${(2 + (i % 24) / 10).toFixed(1)},${species[i % 3]}\n`);
    const dt = new DataTransfer();
    dt.items.add(new File(parts, name, { type: 'text/csv' }));
    return dt;
  }, name);

test('drop a CSV while Models is open: it is imported and the app lands on the new dataset', async () => {
  const page = await env.open({ width: 1280, height: 800 });
  await page.click('[data-nav="models"]');
  await page.waitForSelector('main[data-area="models"]');
  const dt = await csv(page, 'flowers.csv');
  // While a file is dragged over another area, the window says where it goes.
  await page.dispatchEvent('main', 'dragenter', { dataTransfer: dt });
  await page.waitForSelector('[data-testid="drop-anywhere"]');
  await screenshot(page, 'drop-anywhere-models');
  await dropOn(page, 'main', dt);

  await page.waitForSelector('main[data-area="datasets"]', { timeout: 60_000 });
  await page.waitForSelector('[data-testid="column-table"]', { timeout: 60_000 });
  assert.equal(await page.locator('[data-testid="drop-anywhere"]').count(), 0, 'the veil is gone after the drop');
  assert.match(await page.textContent('[data-testid="dataset-title"]'), /flowers/);
  assert.equal((await page.textContent('[data-testid="version-number"]')).trim(), 'v1');
  const cols = await page.$$eval('[data-testid="column-table"] tbody tr', (trs) => trs.map((t) => t.getAttribute('data-column')));
  assert.deepEqual(cols, ['sepal_length', 'sepal_width', 'species']);
  assert.match(await page.evaluate(() => location.hash), /^#\/datasets\/[^/]+\/[^/]+$/, 'the URL names the new version');
  await screenshot(page, 'drop-anywhere-landed');
  assert.deepEqual(page.jsErrors, []);
});

test('a drop on Experiments in the dark theme at laptop size lands the same way', async () => {
  const page = await env.open({ width: 1024, height: 640, colorScheme: 'dark' });
  await page.click('[data-nav="experiments"]');
  await page.waitForSelector('main[data-area="experiments"]');
  await dropOn(page, '[data-testid="status-bar"]', await csv(page, 'petals.csv'));
  await page.waitForFunction(() => /petals/.test(document.querySelector('[data-testid="dataset-title"]')?.textContent ?? ''), null, { timeout: 60_000 });
  await page.waitForSelector('[data-testid="column-table"]');
  await screenshot(page, 'drop-anywhere-landed-dark-small');
  assert.deepEqual(page.jsErrors, []);
});
