// Validation rules in a real browser against a real `tern serve`: import a
// dataset, let Tern suggest rules from its profile, save them, import a
// version that breaks two of them, and see the failed badge and the report
// naming the rule, the column and the offending value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useTern, dropOn, screenshot } from './harness.mjs';

const env = useTern();

async function dropCSV(page, name, text) {
  const dt = await page.evaluateHandle(
    ({ name, text }) => {
      const dt = new DataTransfer();
      dt.items.add(new File([text], name, { type: 'text/csv' }));
      return dt;
    },
    { name, text },
  );
  await dropOn(page, '[data-testid="drop-zone"]', dt);
}

function people({ badRow = -1 } = {}) {
  const cities = ['Oslo', 'Lima', 'Pune', 'Kyiv'];
  let s = 'id,age,city,score\n';
  for (let i = 1; i <= 300; i++) {
    const age = i === badRow ? 230 : 18 + (i % 60);
    const city = i === badRow ? 'Paris' : cities[i % 4];
    s += `${i},${age},${city},${((i * 7) % 100) / 10}\n`;
  }
  return s;
}

test('suggest rules, import a breaking version, see the failed rule', async () => {
  const page = await env.open({ width: 1280, height: 800 });
  await page.click('[data-nav="datasets"]');
  await dropCSV(page, 'people.csv', people());
  await page.waitForSelector('[data-testid="column-table"]');

  await page.click('[data-testid="tab-rules"]');
  await page.click('[data-testid="suggest-rules"]');
  await page.waitForSelector('[data-testid="rule-list"] tbody tr');
  const suggested = await page.locator('[data-testid="rule-list"] tbody tr').count();
  assert.ok(suggested >= 8, `rules for rows, schema, each column and drift; got ${suggested}`);
  // Edit one before saving: ages up to 99 are fine.
  const ageMax = page.locator('[data-testid="rule-list"] tbody tr', { has: page.locator('option[value="range"]:checked') }).first().getByLabel('Maximum');
  await ageMax.fill('99');
  await page.click('[data-testid="save-rules"]');
  await page.waitForSelector('[data-testid="save-rules"]:disabled');
  const saved = await env.call('Datasets.Rules', (await env.call('Datasets.List'))[0].id);
  assert.equal(saved.length, suggested);
  assert.ok(saved.some((r) => r.kind === 'range' && r.column === 'age' && r.max === 99), JSON.stringify(saved));
  await page.click('[data-testid="check-version"]');
  await page.waitForSelector('[data-testid="rule-report"] .check-badge.ok');
  await screenshot(page, 'datarules-suggested');

  // v2 breaks the age range and the allowed cities, on one row.
  await dropCSV(page, 'people.csv', people({ badRow: 42 }));
  await page.waitForFunction(() => document.querySelector('[data-testid="version-number"]')?.textContent?.trim() === 'v2', null, { timeout: 60_000 });
  const badge = page.locator('[data-testid="check-badge"]');
  await badge.waitFor();
  assert.match(await badge.textContent(), /2 of \d+ rules failed/);
  await badge.click();
  await page.waitForSelector('[data-testid="rule-failed"]');
  const failed = await page.$$eval('[data-testid="rule-failed"]', (trs) => trs.map((t) => [...t.querySelectorAll('td')].map((td) => td.textContent.trim())));
  assert.equal(failed.length, 2, JSON.stringify(failed));
  const byRule = Object.fromEntries(failed.map((r) => [r[1], r]));
  assert.equal(byRule['Range'][2], 'age');
  assert.equal(byRule['Range'][3], '230');
  assert.match(byRule['Range'][4], /age goes up to 230, above the maximum 99/);
  assert.equal(byRule['Allowed values'][2], 'city');
  assert.equal(byRule['Allowed values'][3], 'Paris');
  assert.match(byRule['Allowed values'][4], /first "Paris" on line 43/);
  await screenshot(page, 'datarules-failed');

  await page.click('[data-testid="tab-versions"]');
  const marks = await page.$$eval('[data-testid="version-list"] tbody tr', (trs) => trs.map((t) => t.textContent));
  assert.match(marks[0], /2 of \d+ rules failed/);
  assert.match(marks[1], /rules passed/);
  assert.deepEqual(page.jsErrors, []);

  for (const [w, h, scheme] of [[1024, 640, 'dark'], [1280, 800, 'dark'], [1024, 640, 'light']]) {
    const p = await env.open({ width: w, height: h, colorScheme: scheme });
    await p.click('[data-nav="datasets"]');
    await p.locator('[data-testid="check-badge"]').click();
    await p.waitForSelector('[data-testid="rule-failed"]');
    await screenshot(p, `datarules-failed-${w}-${scheme}`);
    await p.context().close();
  }
});
