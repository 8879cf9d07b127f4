// Pipelines in a real browser against a real `tern serve` and Docker: a
// model trained in Tern is registered and deployed; on the empty Pipelines
// page "Retrain on drift" is created from that deployment by clicking; the
// generated pipeline is edited in the DAG (the gate gets a margin and a
// manual approval, the canary steps are deleted, the gate is wired to the
// notify step port to port), saved, started, and watched step by step to
// the gate, approved with the evidence on screen, and run to the end; the
// model version it made opens from the run page. Then the YAML tab: a bad
// file refused with its line shown, a good edit imported, and the diff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { useTern, screenshot, callBound } from './harness.mjs';

const env = useTern();
const api = (name, ...args) => callBound(env.tern, name, ...args);

function churnCSV(rows, seed) {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const out = ['a,b,colour,label'];
  const colours = ['red', 'green', 'blue'];
  for (let i = 0; i < rows; i++) {
    const a = rnd();
    const b = rnd();
    const noise = rnd() * 0.4;
    out.push(`${a.toFixed(4)},${b.toFixed(4)},${colours[i % 3]},${a + 0.5 * b + noise > 0.1 ? 1 : 0}`);
  }
  return out.join('\n') + '\n';
}

async function until(what, fn, ms = 120_000, every = 250) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Asserts nothing in the main area sticks out sideways. */
async function noSideways(page, where) {
  const wide = await page.evaluate(() =>
    [...document.querySelectorAll('main *')]
      .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
      .map((el) => `${el.tagName}.${el.className?.baseVal ?? el.className}`)
      .slice(0, 5),
  );
  assert.deepEqual(wide, [], `nothing sticks out sideways: ${where}`);
}

test('Retrain on drift by clicking: edit the DAG, start, approve the gate, open the version it made; YAML round trip', async () => {
  // A model trained in Tern, registered, @champion, deployed.
  const dir = mkdtempSync(join(tmpdir(), 'tern-pipe-e2e-'));
  writeFileSync(join(dir, 'churn.csv'), churnCSV(1200, 7));
  const dv = await api('Datasets.ImportPath', join(dir, 'churn.csv'), { name: 'churn' });
  const job = await api('Training.Start', { datasetVersionId: dv.id, target: 'label', model: 'gbdt', params: { seed: 5, max_iter: 30 } });
  const done = await until('training', async () => {
    const j = await api('Training.Job', job.id);
    return ['succeeded', 'failed', 'cancelled', 'crashed'].includes(j.state) && j;
  });
  assert.equal(done.state, 'succeeded', done.reason);
  await api('Models.RegisterRun', 'churn', done.runId, '');
  await api('Models.SetAlias', 'churn', 'champion', 1);
  let dep = await api('Deployments.Deploy', 'churn', '1', {});
  dep = await until('the deployment', async () => {
    const d = await api('Deployments.Get', dep.id);
    return ['running', 'failed', 'stopped'].includes(d.state) && d;
  });
  assert.equal(dep.state, 'running', dep.reason);
  // New data arrives: the next version of the same dataset.
  writeFileSync(join(dir, 'churn-2.csv'), churnCSV(1500, 11));
  await api('Datasets.ImportPath', join(dir, 'churn-2.csv'), { name: 'churn' });

  const page = await env.open({ width: 1280, height: 800 });
  try {
    await flow(page, dep);
  } catch (e) {
    await screenshot(page, 'pipeline-e2e-failure');
    if (page.jsErrors.length) console.error('page errors:', page.jsErrors);
    throw e;
  }
});

async function flow(page, dep) {
  await page.click('[data-nav="pipelines"]');
  // The empty state teaches the template, with the deployment to pick.
  await page.waitForSelector('[data-testid="retrain-template"] select');
  await screenshot(page, 'pipelines-empty');
  await page.selectOption('[data-testid="template-deployment"]', dep.id);
  await page.click('[data-testid="template-create"]');

  // It lands on the new pipeline's editor, its DAG drawn from the lineage.
  await page.waitForSelector('[data-testid="pipeline-editor"] [data-testid="dag"] [data-testid="node-gate"]', { timeout: 30_000 });
  assert.match(page.url(), /#\/pipelines\/[0-9a-z]+$/);
  const pipelineId = page.url().split('/').pop();
  for (const s of ['data', 'validate', 'train', 'register', 'evaluate', 'gate', 'deploy', 'watch', 'notify'])
    assert.ok(await page.$(`[data-testid="node-${s}"]`), `the template has a ${s} step`);
  await page.waitForSelector('[data-testid="check-verdict"]');
  assert.equal(await page.textContent('[data-testid="check-verdict"]'), 'Ready to run');
  await screenshot(page, 'pipeline-editor-template');

  // The gate: no worse than 20 points of AUC (a retrain on the same kind of
  // data is about as good), and a person approves.
  await page.click('[data-testid="node-gate"] rect.box');
  await page.waitForSelector('[data-testid="step-form"][data-step="gate"]');
  await page.fill('[data-testid="field-diff_above"]', '-0.2');
  await page.press('[data-testid="field-diff_above"]', 'Tab');
  await page.check('[data-testid="field-approval"]');

  // No canary in this test: delete deploy and watch (the button, then the
  // Delete key), and notify loses its input.
  await page.click('[data-testid="node-deploy"] rect.box');
  await page.click('[data-testid="delete-step"]');
  await page.click('[data-testid="node-watch"] rect.box');
  await page.keyboard.press('Delete');
  await page.waitForSelector('[data-testid="node-watch"]', { state: 'detached' });
  assert.equal(await page.getAttribute('[data-testid="dag"]', 'data-steps'), '7');

  // A wrong wire is refused: gate's candidate (a model version) does not
  // light up evaluate's rows input (a dataset version).
  await page.click('[data-testid="port-out-gate-candidate"]');
  await page.waitForSelector('[data-testid="connect-hint"]');
  assert.match(await page.getAttribute('[data-testid="port-in-notify-after"]', 'class'), /\bok\b/);
  assert.match(await page.getAttribute('[data-testid="port-in-evaluate-rows"]', 'class'), /\boff\b/);
  // Connect port to port by dragging: gate.candidate → notify.after.
  await page.keyboard.press('Escape');
  await page.waitForSelector('[data-testid="connect-hint"]', { state: 'detached' });
  await page.locator('[data-testid="port-in-notify-after"]').scrollIntoViewIfNeeded();
  const from = await page.locator('[data-testid="port-out-gate-candidate"]').boundingBox();
  const to = await page.locator('[data-testid="port-in-notify-after"]').boundingBox();
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move((from.x + to.x) / 2, (from.y + to.y) / 2, { steps: 4 });
  await page.mouse.move(to.x + to.width / 2, to.y + to.height / 2, { steps: 4 });
  await page.mouse.up();
  await page.waitForSelector('[data-testid="edge-gate-notify"]', { state: 'attached' });

  // A step with a missing field is named on the step and the field.
  await page.click('[data-testid="node-data"] rect.box');
  await page.fill('[data-testid="field-dataset"]', '');
  await page.press('[data-testid="field-dataset"]', 'Tab');
  await page.waitForSelector('[data-testid="node-problems-data"]');
  assert.match(await page.textContent('[data-testid="step-form"] [data-testid="field-problem"]'), /dataset/i);
  await screenshot(page, 'pipeline-editor-problem');
  await page.fill('[data-testid="field-dataset"]', 'churn');
  await page.press('[data-testid="field-dataset"]', 'Tab');
  await page.waitForSelector('[data-testid="node-problems-data"]', { state: 'detached' });

  await page.click('[data-testid="save-pipeline"]');
  await page.waitForSelector('[data-testid="pipeline-editor"][data-dirty="false"]');
  const savedSpec = await api('Pipelines.Get', pipelineId);
  const gate = savedSpec.steps.find((s) => s.id === 'gate');
  assert.equal(gate.fields.diff_above, -0.2);
  assert.equal(gate.fields.approval, true);
  assert.equal(savedSpec.steps.find((s) => s.id === 'notify').inputs.after, 'gate.candidate');

  // Start: the run page colours the DAG as steps move.
  await page.click('[data-testid="start-pipeline"]');
  await page.waitForSelector('[data-testid="run-view"]');
  assert.match(page.url(), /#\/pipelines\/run\/[0-9a-z]+$/);
  const runId = page.url().split('/').pop();
  const seen = new Set();
  let shotLive = false;
  await until(
    'the gate to wait',
    async () => {
      for (const s of ['data', 'validate', 'train', 'register', 'evaluate', 'gate']) seen.add(`${s}:${await page.getAttribute(`[data-testid="node-${s}"]`, 'data-state')}`);
      if (!shotLive && [...seen].some((x) => x === 'train:running')) {
        await screenshot(page, 'pipeline-run-live');
        shotLive = true;
      }
      const st = await page.getAttribute('[data-testid="run-view"]', 'data-state');
      if (st === 'failed') throw new Error(`the run failed: ${await page.textContent('[data-testid="run-error"]')}`);
      return (await page.getAttribute('[data-testid="node-gate"]', 'data-state')) === 'waiting';
    },
    240_000,
    200,
  );
  assert.ok(seen.has('train:running'), `the train step was seen running (${[...seen].join(' ')})`);
  assert.ok(seen.has('data:succeeded'));

  // The gate waits with its evidence; approve it.
  await page.waitForSelector('[data-testid="approval"] [data-testid="gate-evidence"] table');
  const evidence = await page.textContent('[data-testid="gate-evidence"]');
  assert.match(evidence, /churn v2 vs churn v1/, evidence);
  await screenshot(page, 'pipeline-run-gate');
  await page.fill('[data-testid="approval-note"]', 'looks fine');
  await page.click('[data-testid="approve"]');
  await page.waitForSelector('[data-testid="run-view"][data-state="succeeded"]', { timeout: 60_000 });
  assert.equal(await page.getAttribute('[data-testid="node-notify"]', 'data-state'), 'succeeded');
  assert.equal(await page.textContent('[data-testid="run-progress"]'), '7 / 7');
  await screenshot(page, 'pipeline-run-done');
  const detail = await api('Pipelines.Run', runId);
  assert.equal(detail.steps.find((s) => s.step === 'gate').approval.note, 'looks fine');

  // Open the model version it made, from the register step's output.
  await page.click('[data-testid="node-register"] rect.box');
  await page.waitForSelector('[data-testid="step-panel"][data-step="register"] [data-testid="output-link"]');
  assert.equal(await page.textContent('[data-testid="output-link"]'), 'churn v2');
  await page.click('[data-testid="output-link"]');
  await page.waitForSelector('[data-testid="version-row"].on');
  assert.match(page.url(), /#\/models\/churn\/2$/);
  assert.match(await page.textContent('[data-testid="version-row"].on'), /^v2(?!\d)/);

  // Run again: nothing changed, so every step is cached (no approval asked,
  // the gate's decision was part of the cached step).
  await page.goto(`${env.tern.url}/#/pipelines/run/${runId}`);
  await page.click('[data-testid="run-again"]');
  await page.waitForURL((u) => !u.href.endsWith(runId));
  await page.waitForSelector('[data-testid="run-view"]');
  const second = await until('the second run to end', async () => {
    const st = await page.getAttribute('[data-testid="run-view"]', 'data-state');
    return ['succeeded', 'failed', 'cancelled', 'waiting'].includes(st) && st;
  });
  const cached = await page.$$eval('[data-testid="dag"] g.node', (ns) => ns.map((n) => n.getAttribute('data-state')));
  await page.click('[data-testid="node-train"] rect.box');
  await screenshot(page, 'pipeline-run-cached');
  assert.equal(second, 'succeeded', `second run: ${cached.join(' ')}`);
  assert.ok(cached.filter((s) => s === 'cached').length >= 5, `most steps cached: ${cached.join(' ')}`);
  await page.waitForSelector('[data-testid="cached-marker"]');

  // The list shows the pipeline, its trigger and last run.
  await page.click('[data-nav="pipelines"]');
  await page.waitForSelector('[data-testid="pipelines"] [data-testid="pipeline-row"]');
  // The list reloads a moment (250 ms) after a run's last state change.
  await page.waitForFunction(() => /#2 succeeded/.test(document.querySelector('[data-testid="pipeline-row"]')?.textContent ?? ''), null, { timeout: 10_000 });
  assert.match(await page.textContent('[data-testid="pipeline-row"]'), /Retrain .* on drift/);
  assert.match(await page.textContent('[data-testid="pipeline-row"]'), /#2 succeeded/);
  await screenshot(page, 'pipelines-list');

  // YAML: export, a bad edit refused with its line, then a good one.
  await page.goto(`${env.tern.url}/#/pipelines/${pipelineId}`);
  await page.click('[data-testid="tab-yaml"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="yaml-text"]')?.value.includes('type: gate'));
  const yaml = await page.inputValue('[data-testid="yaml-text"]');
  const bad = yaml.replace('type: notify', 'type: notifyy');
  // The problem is the step's: it names the step's first line (its type is the next).
  const badLine = bad.split('\n').findIndex((l) => /- id: notify$/.test(l)) + 1;
  await page.fill('[data-testid="yaml-text"]', bad);
  await page.click('[data-testid="yaml-import"]');
  await page.waitForSelector('[data-testid="yaml-error"]');
  const err = await page.textContent('[data-testid="yaml-error"] .error-text');
  assert.ok(badLine > 0);
  assert.match(err, new RegExp(`Line ${badLine}\\b.*unknown step type "notifyy"`), err);
  assert.match(await page.textContent('[data-testid="yaml-error-line"]'), /notifyy/);
  await screenshot(page, 'pipeline-yaml-error');
  // A good edit: the diff shows it, the import takes it.
  await page.fill('[data-testid="yaml-text"]', yaml.replace(/^name: .*$/m, 'name: retrain-churn'));
  await page.click('[data-testid="yaml-diff-toggle"]');
  await page.waitForSelector('[data-testid="yaml-diff"] .d-add');
  assert.match(await page.textContent('[data-testid="yaml-diff"] .d-add'), /name: retrain-churn/);
  await screenshot(page, 'pipeline-yaml-diff');
  await page.click('[data-testid="yaml-import"]');
  await page.waitForSelector('[data-testid="yaml-notice"]');
  assert.equal((await api('Pipelines.Get', pipelineId)).name, 'retrain-churn');
  assert.deepEqual(page.jsErrors, []);

  // Both themes at 1280 and 1024: the list, the editor, the run.
  for (const [w, h, scheme] of [
    [1280, 800, 'dark'],
    [1024, 640, 'light'],
    [1024, 640, 'dark'],
  ]) {
    const p = await env.open({ width: w, height: h, colorScheme: scheme });
    for (const [name, hash, sel] of [
      ['list', '#/pipelines', '[data-testid="pipeline-row"]'],
      ['editor', `#/pipelines/${pipelineId}`, '[data-testid="node-gate"]'],
      ['run', `#/pipelines/run/${runId}`, '[data-testid="node-gate"][data-state="succeeded"]'],
    ]) {
      await p.goto(`${env.tern.url}/${hash}`);
      await p.waitForSelector(sel);
      if (name === 'run') await p.click('[data-testid="node-gate"] rect.box');
      await screenshot(p, `pipeline-${name}-${scheme}-${w}`);
      await noSideways(p, `${name} ${scheme} ${w}`);
    }
    assert.deepEqual(p.jsErrors, []);
    await p.close();
  }

  await canary(page, dep);
}

// The version the run made, ramped into the deployment by hand while
// requests flow: the deployment page shows the stages, each stage's
// comparison as the watch judges it, and aborts it from the page.
async function canary(page, dep) {
  const ramp = await api('Deployments.StartRamp', dep.id, '2', { stages: [{ percent: 50, requests: 100000 }] });
  const body = (i) => JSON.stringify({ dataframe_split: { columns: ['a', 'b', 'colour'], data: [[(i % 7) / 7 - 0.5, (i % 5) / 5 - 0.5, ['red', 'green', 'blue'][i % 3]]] } });
  const judged = await until(
    'the first stage to count requests on both sides',
    async () => {
      for (let i = 0; i < 10; i++) await api('Deployments.Predict', dep.id, 'application/json', body(i));
      const r = (await api('Deployments.Ramps', dep.id)).find((x) => x.id === ramp.id);
      const s = r?.stages?.[0];
      return s && s.candidate.requests >= 10 && s.champion.requests >= 10 && r;
    },
    180_000,
    200,
  );
  assert.equal(judged.state, 'running', judged.reason);
  await page.goto(`${env.tern.url}/#/deployments/${dep.id}`);
  await page.waitForSelector('[data-testid="ramp"][data-state="running"] [data-testid="ramp-stage"]');
  assert.match(await page.textContent('[data-testid="ramp"]'), /Ramp of churn v2/);
  assert.equal(await page.textContent('[data-testid="ramp-share"]'), '50 %');
  // The stage's figures are the watch's: requests on each side, live.
  const stageText = await page.textContent('[data-testid="ramp-stage"]');
  assert.match(stageText, /Stage 1 · 50 %/);
  assert.match(stageText, /Requests\s*\d+\s*\d+/);
  assert.match(stageText, /Error rate difference/);
  await page.locator('[data-testid="ramp"]').scrollIntoViewIfNeeded();
  await screenshot(page, 'deployment-ramp');
  for (const [w, h, scheme] of [
    [1280, 800, 'dark'],
    [1024, 640, 'light'],
  ]) {
    const p = await env.open({ width: w, height: h, colorScheme: scheme });
    await p.goto(`${env.tern.url}/#/deployments/${dep.id}`);
    await p.waitForSelector('[data-testid="ramp-stage"]');
    await p.locator('[data-testid="ramp"]').scrollIntoViewIfNeeded();
    await screenshot(p, `deployment-ramp-${scheme}-${w}`);
    await noSideways(p, `deployment ramp ${scheme} ${w}`);
    assert.deepEqual(p.jsErrors, []);
    await p.close();
  }
  // Abort from the page: the app's dialog, then v1 has all traffic back.
  await page.click('[data-testid="ramp-abort"]');
  await page.click('[data-testid="app-dialog-ok"]');
  await page.waitForSelector('[data-testid="ramp"][data-state="aborted"]');
  assert.match(await page.textContent('[data-testid="ramp-state"]'), /aborted/);
  const after = await until('v1 to take all traffic', async () => {
    const d = await api('Deployments.Get', dep.id);
    const v1 = d.backends.find((b) => b.version === 1);
    return d.traffic.split.some((s) => s.backend === v1.backend && s.weight >= 99.99) && d;
  }, 30_000);
  // The page's traffic table follows the ramp's ending, not only the card.
  const v1 = after.backends.find((b) => b.version === 1).backend;
  await page.waitForFunction((b) => document.querySelector(`[data-testid="backend-row"][data-backend="${b}"] [data-testid="weight"]`)?.textContent === '100%', v1);
  assert.equal(await page.textContent('[data-testid="ramp-stage"] .v'), 'ended before a verdict');
  await screenshot(page, 'deployment-ramp-aborted');
  assert.deepEqual(page.jsErrors, []);
}
