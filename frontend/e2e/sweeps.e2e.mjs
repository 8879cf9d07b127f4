// Sweeps in a real browser against a real `tern serve`: drop a labelled
// CSV, open "Train a model", switch to "Sweep parameters…", start a small
// random sweep two at a time, watch the trials arrive as lines in the
// parallel coordinates, and register the best trial in one click.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useTern, dropOn, screenshot, callBound } from './harness.mjs';

const env = useTern();

async function dropLabelled(page, rows) {
  const dt = await page.evaluateHandle((rows) => {
    let s = 7;
    const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const parts = ['a,b,c,colour,label\n'];
    const colours = ['red', 'green', 'blue'];
    for (let i = 0; i < rows; i++) {
      const a = rnd();
      const b = rnd();
      const c = rnd();
      const k = i % 3;
      const noise = rnd() * 0.6;
      parts.push(`${a.toFixed(4)},${b.toFixed(4)},${c.toFixed(4)},${colours[k]},${a + 0.5 * b - 0.4 * b * c + 0.2 * k + noise > 0.1 ? 'yes' : 'no'}\n`);
    }
    const dt = new DataTransfer();
    dt.items.add(new File(parts, 'sweepme.csv', { type: 'text/csv' }));
    return dt;
  }, rows);
  await dropOn(page, '[data-testid="drop-zone"]', dt);
}

test('start a sweep from the Train panel, see trials arrive, register the best', async () => {
  const page = await env.open({ width: 1280, height: 800 });
  await page.click('[data-nav="datasets"]');
  await dropLabelled(page, 12_000);
  await page.waitForSelector('[data-testid="column-table"]', { timeout: 60_000 });

  await page.click('button:has-text("Train a model")');
  await page.waitForSelector('[data-testid="train-start"]');
  await page.click('[data-testid="target-confirm"]');
  await page.click('[data-testid="sweep-open"]');
  await page.waitForSelector('[data-testid="sweep-form"] table.space');
  // The space editor comes from the GBDT's schema, with its proposed ranges.
  assert.equal(await page.isChecked('[data-search="learning_rate"]'), true);
  assert.equal(await page.isChecked('[data-search="max_iter"]'), false);
  await page.selectOption('[data-testid="sweep-sampler"]', 'random');
  await page.fill('[data-testid="sweep-trials"]', '8');
  await page.fill('[data-testid="sweep-parallelism"]', '2');
  await screenshot(page, 'sweep-form');
  await page.click('[data-testid="sweep-start"]');

  await page.waitForSelector('[data-testid="sweep-view"]', { timeout: 30_000 });
  assert.match(page.url(), /#\/experiments\/sweep\/[0-9a-z]+$/);
  // Trials arrive while the sweep runs: lines appear one by one.
  const seen = new Set();
  let state = '';
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    state = await page.getAttribute('[data-testid="sweep-view"]', 'data-state');
    const lines = Number(await page.getAttribute('[data-testid="parallel-coords"]', 'data-lines'));
    if (state === 'running' && lines > 0) {
      if (!seen.has(lines) && seen.size === 0) await screenshot(page, 'sweep-live');
      seen.add(lines);
    }
    if (state !== 'running') break;
    await page.waitForTimeout(150);
  }
  const reason = (await page.$('[data-testid="sweep-reason"]')) ? await page.textContent('[data-testid="sweep-reason"]') : '';
  assert.equal(state, 'finished', `the sweep ended ${state}: ${reason}`);
  assert.ok(seen.size >= 2, `trials arrived while it ran (saw ${[...seen].join(', ')} lines)`);
  assert.equal(await page.textContent('[data-testid="sweep-progress"]'), '8 / 8');
  assert.equal(Number(await page.getAttribute('[data-testid="parallel-coords"]', 'data-lines')), 8);
  await page.waitForSelector('[data-testid="sweep-importance"] .bar');
  await screenshot(page, 'sweep-done');

  // Register the best trial in one click (the name is proposed).
  await page.click('[data-testid="sweep-register"]');
  await page.waitForSelector('[data-testid="sweep-registered"]');
  assert.equal(await page.textContent('[data-testid="sweep-registered"]'), 'gbdt-sweep v1');
  const id = page.url().split('/').pop();
  const sw = (await callBound(env.tern, 'Sweeps.Get', id)).sweep;
  const model = await callBound(env.tern, 'Models.Get', 'gbdt-sweep');
  assert.equal(model.versions[0].runId, sw.trials[sw.best].runId, 'the registered version is the best trial');
  assert.deepEqual(page.jsErrors, []);

  // Readable at laptop size, in the dark theme too.
  for (const [w, h, scheme] of [
    [1280, 800, 'dark'],
    [1024, 640, 'light'],
    [1024, 640, 'dark'],
  ]) {
    const p = await env.open({ width: w, height: h, colorScheme: scheme });
    await p.goto(page.url().replace(/#.*/, `#/experiments/sweep/${id}`));
    await p.waitForSelector('[data-testid="parallel-coords"] polyline');
    await screenshot(p, `sweep-done-${scheme}-${w}`);
    const wide = await p.evaluate(() =>
      [...document.querySelectorAll('main *')]
        .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
        .map((el) => `${el.tagName}.${el.className}`)
        .slice(0, 5),
    );
    assert.deepEqual(wide, [], `nothing sticks out sideways at ${w}×${h}`);
    await p.close();
  }
});
