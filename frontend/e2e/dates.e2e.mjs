// Dates people write, in a real browser against a real `tern serve`: a
// day/month column no value settles is read month-first and says so; the
// person turns it day-first from the column table and the profile follows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { useTern, screenshot, callBound } from './harness.mjs';

const env = useTern();

test('an ambiguous day/month column is read month-first, said so, and can be turned', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tern-dates-'));
  const file = join(dir, 'visits.csv');
  writeFileSync(file, 'visit,day,created_at\n1,02/01/2024,1733390000\n2,05/03/2024,1733400000\n3,11/12/2024,1733410000\n');
  const v = await callBound(env.tern, 'Datasets.ImportPath', file, {});
  const page = await env.open({ width: 1280, height: 800 });
  await page.goto(`${env.tern.url}/#/datasets/${v.datasetId}/${v.id}`);
  const row = page.locator('[data-testid="column-table"] tr[data-column="day"]');
  await row.waitFor();
  assert.equal(await row.locator('[data-testid="date-order"]').inputValue(), 'month-first');
  assert.match(await row.locator('[data-testid="date-note"]').getAttribute('title'), /Every date fits both month-first \(MM\/DD\/YYYY\) and day-first \(DD\/MM\/YYYY\); read as month-first/);
  assert.equal((await row.locator('td.num').nth(4).textContent()).trim(), '2024-02-01', 'min as a date');
  assert.equal(await row.locator('td.num').nth(4).getAttribute('title'), '2024-02-01T00:00:00Z');
  const epoch = page.locator('[data-testid="column-table"] tr[data-column="created_at"]');
  assert.equal(await epoch.locator('select.type').first().inputValue(), 'datetime');
  assert.match(await epoch.locator('[data-testid="date-note"]').getAttribute('title'), /Unix time in seconds/);
  await screenshot(page, 'dates-ambiguous');

  await row.locator('[data-testid="date-order"]').selectOption('day-first');
  await page.waitForFunction(() => document.querySelectorAll('tr[data-column="day"] td.num')[4]?.textContent?.trim() === '2024-01-02');
  assert.equal(await row.locator('[data-testid="date-order"]').inputValue(), 'day-first');
  assert.equal((await row.locator('td.num').nth(5).textContent()).trim(), '2024-12-11');
  assert.deepEqual(page.jsErrors, []);
});
