// Fairness in a real browser against a real `tern serve`: a credit dataset
// with protected columns (sex, with blanks, and region) is imported and a
// logistic model trained on it and registered (through the bound calls, as
// the other pages would); the model version page computes the figures per
// group and per pair, shows the disparities against the limits and a
// verdict, and a looser limit turns the verdict around.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { useTern, screenshot } from './harness.mjs';

const env = useTern({
  setup: async (env) => {
    // A deterministic generator: the same file every run.
    let s = 7;
    const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
    const rows = ['income,age,sex,region,approved'];
    for (let i = 0; i < 1500; i++) {
      const sex = ['F', 'M', 'M', ''][Math.floor(rnd() * 4)];
      const region = ['north', 'south', 'west'][Math.floor(rnd() * 3)];
      const income = 20 + rnd() * 80 + (sex === 'M' ? 15 : 0);
      const age = 18 + Math.floor(rnd() * 60);
      const y = income + (rnd() - 0.5) * 30 > 70 ? 1 : 0;
      rows.push(`${income.toFixed(2)},${age},${sex},${region},${y}`);
    }
    const file = join(mkdtempSync(join(tmpdir(), 'tern-fair-')), 'credit.csv');
    writeFileSync(file, rows.join('\n') + '\n');
    const v = await env.call('Datasets.ImportPath', file, {});
    await env.call('Datasets.EditSchema', v.id, [
      { name: 'sex', protected: true },
      { name: 'region', protected: true },
      { name: 'approved', role: 'target' },
    ]);
    let job = await env.call('Training.Start', { datasetVersionId: v.id, target: 'approved', model: 'logistic', features: ['income', 'age'] });
    const deadline = Date.now() + 180_000;
    while (!['succeeded', 'failed', 'cancelled', 'crashed'].includes(job.state) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      job = await env.call('Training.Job', job.id);
    }
    assert.equal(job.state, 'succeeded', `training ended ${job.state}: ${job.reason}`);
    await env.call('Models.RegisterRun', 'credit', job.runId, '');
  },
});

test('fairness figures per group and pair, disparities against limits, verdict in words', async () => {
  const page = await env.open({ width: 1280, height: 800 });
  await page.click('[data-nav="models"]');
  await page.waitForSelector('[data-testid="fairness"]');
  // The version's training data is proposed, with its protected columns ticked.
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="fair-col"]').length === 2);
  assert.match(await page.textContent('[data-testid="fair-version"] option:checked'), /v1 \(trained on\)/);
  await page.check('[data-testid="fair-pairs"]');
  await page.click('[data-testid="fair-run"]');
  await page.waitForSelector('[data-testid="fair-verdict"]', { timeout: 60_000 });

  const analyses = page.locator('[data-testid="fair-analysis"]');
  assert.equal(await analyses.count(), 3, 'sex, region, and sex × region');
  assert.match(await analyses.nth(0).locator('h3').textContent(), /^sex/);
  assert.match(await analyses.nth(2).locator('h3').textContent(), /sex × region/);
  const sexGroups = await analyses.nth(0).locator('[data-testid="fair-group"] td.first').allTextContents();
  assert.deepEqual(sexGroups, ['(missing)', 'F', 'M'], 'blanks are a group of their own');
  // Income differs by sex and the model reads income: the selection rates
  // differ by more than 0.1, so the default limits fail it.
  assert.ok((await page.getAttribute('[data-testid="fair-verdict"]', 'class')).split(' ').includes('fail'));
  assert.match(await page.textContent('[data-testid="fair-verdict"]'), /^Fails on sex(, region)? and sex × region: \d+ disparities are outside the limits \(difference at most 0\.1, ratio at least 0\.8\)/);
  assert.match(await analyses.nth(0).locator('[data-testid="fair-analysis-verdict"]').textContent(), /^Fails on sex: demographic parity difference [\d.]+ is above 0\.1/);
  const dpd = await analyses.nth(0).locator('[data-testid="fair-disparities"] tr', { hasText: 'Demographic parity difference' }).textContent();
  assert.match(dpd, /outside/);
  await screenshot(page, 'fairness-1280-light');
  await page.locator('[data-testid="fair-verdict"]').scrollIntoViewIfNeeded();
  await screenshot(page, 'fairness-1280-light-verdict');
  await analyses.nth(2).scrollIntoViewIfNeeded();
  await screenshot(page, 'fairness-1280-light-pairs');

  // A minimum group size above every intersection: "too few rows", no numbers.
  await page.fill('[data-testid="fair-mingroup"]', '200');
  await page.click('[data-testid="fair-run"]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="fair-analysis"]')[2]?.textContent?.includes('too few rows'));

  // Loose limits: the verdict turns to pass.
  await page.fill('[data-testid="fair-mingroup"]', '30');
  await page.fill('[data-testid="fair-maxdiff"]', '0.99');
  await page.fill('[data-testid="fair-minratio"]', '0.01');
  await page.click('[data-testid="fair-run"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="fair-verdict"]')?.classList.contains('pass'));
  assert.match(await page.textContent('[data-testid="fair-verdict"]'), /^Passes: the disparities on sex, region and sex × region are within the limits/);

  // A class the model does not know is answered in words where it was asked.
  await page.fill('[data-testid="fair-positive"]', 'maybe');
  await page.click('[data-testid="fair-run"]');
  assert.match(await page.textContent('[data-testid="fair-error"]'), /"maybe" is not a class of this model; its classes are 0, 1/);
  assert.deepEqual(page.jsErrors, []);
  await page.close();
});

test('explain the version once: bar, beeswarm and dependence, shown again on the run page', async () => {
  const page = await env.open({ width: 1280, height: 800 });
  await page.click('[data-nav="models"]');
  await page.waitForSelector('[data-testid="expl-empty"]');
  await page.click('[data-testid="expl-run"]');
  await page.waitForSelector('[data-testid="expl-bar"]', { timeout: 60_000 });
  await page.waitForSelector('[data-testid="expl-beeswarm"]');
  assert.match(await page.textContent('[data-testid="expl-source"]'), /Linear SHAP .* on [\d,]+ validation rows of credit v1; explains the margin \(logit\)/);
  // The most important column's dependence plot is shown first; pick another.
  assert.equal(await page.inputValue('[data-testid="expl-column"]'), 'income');
  await page.selectOption('[data-testid="expl-column"]', 'age');
  await page.waitForSelector('[data-testid="expl-dependence"][alt="Dependence plot of age"]');
  await page.locator('[data-testid="explanation"]').scrollIntoViewIfNeeded();
  await screenshot(page, 'explanation-1280-light');

  // The run's page shows the stored explanation without computing again.
  await page.click('[data-testid="lineage"] .step.run a');
  await page.waitForSelector('[data-testid="expl-bar"]', { timeout: 20_000 });
  assert.equal(await page.locator('[data-testid="expl-progress"]').count(), 0);
  await page.locator('[data-testid="explanation"]').scrollIntoViewIfNeeded();
  await screenshot(page, 'explanation-run-1280-light');
  assert.deepEqual(page.jsErrors, []);
  await page.close();
});

test('fairness section at a small laptop size, dark', async () => {
  const page = await env.open({ width: 1024, height: 640, colorScheme: 'dark' });
  await page.click('[data-nav="models"]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="fair-col"]').length === 2);
  await page.click('[data-testid="fair-run"]');
  await page.waitForSelector('[data-testid="fair-verdict"]', { timeout: 60_000 });
  await page.locator('[data-testid="fair-verdict"]').scrollIntoViewIfNeeded();
  await screenshot(page, 'fairness-1024-dark');
  await page.locator('[data-testid="fair-analysis"]').nth(0).scrollIntoViewIfNeeded();
  await screenshot(page, 'fairness-1024-dark-groups');
  // The group table scrolls inside its card, never the page sideways.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
  await page.locator('[data-testid="explanation"]').scrollIntoViewIfNeeded();
  await screenshot(page, 'explanation-1024-dark');
  await page.close();
});
