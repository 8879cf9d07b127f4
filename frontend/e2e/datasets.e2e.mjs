// Datasets in a real browser against a real `tern serve`: drop a file
// (a synthetic DataTransfer, as a person's drag would deliver), watch the
// import's progress, land on the new version's profile; drop a changed file
// of the same name and see version 2 with its diff against version 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { useTern, dropOn, screenshot } from './harness.mjs';

const env = useTern();

// Builds the CSV inside the page (no megabytes over the wire) and drops it
// on the drop zone.
async function dropCSV(page, { name, rows, shift }) {
  const dt = await page.evaluateHandle(
    ({ name, rows, shift }) => {
      const parts = ['id,age,income,city\n'];
      const cities = ['Oslo', 'Lima', 'Pune', 'Kyiv'];
      for (let i = 0; i < rows; i++) {
        parts.push(`${i},${20 + ((i * 7) % 50) + shift},${(1000 + ((i * 37) % 9000) + shift * 100).toFixed(2)},${cities[(i + shift) % 4]}\n`);
      }
      const dt = new DataTransfer();
      dt.items.add(new File(parts, name, { type: 'text/csv' }));
      return dt;
    },
    { name, rows, shift },
  );
  await dropOn(page, '[data-testid="drop-zone"]', dt);
}

test('drop a file, see progress, then its profile; drop a changed file, see v2 and its diff', async () => {
  const page = await env.open({ width: 1280, height: 800 });
  await page.click('[data-nav="datasets"]');

  // ~40 MB: large enough that progress is visible before the profile.
  await dropCSV(page, { name: 'customers.csv', rows: 1_300_000, shift: 0 });
  const card = page.locator('[data-testid="import-progress"]').first();
  await card.waitFor();
  const during = await page.locator('[data-testid="import-figures"]').first().textContent();
  assert.match(during, /(KB|MB|B) of \d+(\.\d)? MB · [\d.,kM]+ rows/, `progress shows bytes and rows: ${during}`);
  // Detection is shown while the rest is read: the preview to check.
  await page.waitForSelector('[data-testid="import-detected"]');
  assert.match(await page.textContent('[data-testid="import-detected"]'), /csv, “,”-separated, header row, utf-8 · 4 columns: id integer, age integer, income float, city categorical/);
  await screenshot(page, 'datasets-importing');

  await page.waitForSelector('[data-testid="import-progress"][data-phase="done"]', { timeout: 120_000 });
  await page.waitForSelector('[data-testid="column-table"]');
  assert.equal((await page.textContent('[data-testid="version-number"]')).trim(), 'v1');
  assert.match(await page.textContent('[data-testid="dataset-title"]'), /customers/);
  const cols = await page.$$eval('[data-testid="column-table"] tbody tr', (trs) => trs.map((t) => t.getAttribute('data-column')));
  assert.deepEqual(cols, ['id', 'age', 'income', 'city']);
  // The column chart is the backend's gonum/plot SVG.
  await page.waitForSelector('[data-testid="column-chart"]');
  // Sorting by mean puts income (≈5500) first.
  await page.click('[data-sort="mean"]');
  const first = await page.$eval('[data-testid="column-table"] tbody tr', (t) => t.getAttribute('data-column'));
  assert.equal(first, 'id', 'id has the largest mean (650k)');
  await screenshot(page, 'datasets-v1-profile');

  // The same name with changed bytes: version 2, with a diff against v1.
  await dropCSV(page, { name: 'customers.csv', rows: 200_000, shift: 9 });
  await page.waitForFunction(() => document.querySelector('[data-testid="version-number"]')?.textContent?.trim() === 'v2', null, { timeout: 120_000 });
  await page.waitForSelector('[data-testid="version-diff"]');
  const diff = await page.textContent('[data-testid="version-diff"]');
  assert.match(diff, /Changes since v1/);
  assert.match(await page.textContent('[data-testid="diff-rows"]'), /-1\.1\d*M|-1100000/);
  assert.match(diff, /age|income/);
  await page.click('[data-testid="tab-versions"]');
  const versions = await page.$$eval('[data-testid="version-list"] tbody tr', (trs) => trs.length);
  assert.equal(versions, 2);
  await screenshot(page, 'datasets-v2-diff');

  // A malformed file says what is wrong, where, and imports nothing.
  const bad = await page.evaluateHandle(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['a,b\n1,2\n3,4,5\n'], 'broken.csv', { type: 'text/csv' }));
    return dt;
  });
  await page.dispatchEvent('[data-testid="drop-zone"]', 'drop', { dataTransfer: bad });
  await page.waitForSelector('[data-testid="import-error"]');
  assert.match(await page.textContent('[data-testid="import-error"]'), /Line 3 has 3 fields but the header has 2 columns/);
  assert.equal(await page.locator('[data-dataset="broken"]').count(), 0);
  assert.deepEqual(page.jsErrors, []);
});

test('cancel stops an import and stores nothing', async () => {
  const page = await env.open({ width: 1024, height: 640, colorScheme: 'dark' });
  await page.click('[data-nav="datasets"]');
  // ~250 MB (one block repeated, cheap to build): the import is still
  // running when Cancel is clicked, even on a fast machine.
  const dt = await page.evaluateHandle(() => {
    let block = '';
    for (let i = 0; i < 1000; i++) block += `${i},${i % 50},${(i * 3.5).toFixed(2)},Oslo\n`;
    const dt = new DataTransfer();
    dt.items.add(new File(['id,age,income,city\n', ...Array(10_000).fill(block)], 'huge.csv', { type: 'text/csv' }));
    return dt;
  });
  await page.dispatchEvent('[data-testid="drop-zone"]', 'drop', { dataTransfer: dt });
  await page.locator('[data-testid="import-cancel"]').first().click();
  await page.waitForSelector('[data-testid="import-progress"][data-phase="cancelled"]', { timeout: 60_000 });
  await screenshot(page, 'datasets-cancelled-dark');
  assert.equal(await page.locator('[data-dataset="huge"]').count(), 0);
  // Nothing half-written: no temp file, and only the two customers blobs.
  const blobs = join(env.tern.dataDir, 'blobs');
  await page.waitForTimeout(300);
  assert.deepEqual(readdirSync(join(blobs, 'tmp')), []);
  const stored = readdirSync(join(blobs, 'sha256')).flatMap((d) => readdirSync(join(blobs, 'sha256', d)));
  assert.equal(stored.length, 2, `blobs: ${stored}`);
});
