import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { useTern, screenshot } from './harness.mjs';

const env = useTern({ stopped: (code) => assert.equal(code, 0, 'tern serve exits cleanly on SIGTERM') });

function raw(url, { host, headers = {} } = {}) {
  const u = new URL(url);
  return new Promise((res, rej) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, headers: { ...(host ? { Host: host } : {}), ...headers } }, (r) => {
      let body = '';
      r.on('data', (d) => (body += d));
      r.on('end', () => res({ status: r.statusCode, body, headers: r.headers }));
    });
    req.on('error', rej);
    req.end();
  });
}

test('the HTTP face guards itself', async () => {
  assert.equal((await raw(env.tern.url + '/api/routes')).status, 401, 'no token');
  assert.equal((await raw(env.tern.url + '/api/routes?token=' + env.tern.token)).status, 401, 'token in query');
  assert.equal((await raw(env.tern.url + '/', { host: 'evil.example' })).status, 403, 'foreign Host');
  assert.equal((await raw(env.tern.url + '/', { host: 'evil.example', headers: { Authorization: 'Bearer ' + env.tern.token } })).status, 403);
  const ok = await raw(env.tern.url + '/api/routes', { headers: { Authorization: 'Bearer ' + env.tern.token } });
  assert.equal(ok.status, 200);
  assert.ok(JSON.parse(ok.body).includes('POST /api/call/System.Status'));
  assert.ok(!env.tern.output().includes(env.tern.token.slice(8)) || env.tern.output().split(env.tern.token).length === 2, 'token printed once, never logged');
});

test('without the token a browser sees how to sign in, not the app', async () => {
  const ctx = await env.browser.newContext();
  const page = await ctx.newPage();
  const resp = await page.goto(env.tern.url + '/');
  assert.equal(resp.status(), 401);
  await page.waitForSelector('#msg');
  assert.match(await page.textContent('#msg'), /tern serve/);
  await ctx.close();
});

const areas = ['datasets', 'experiments', 'models', 'deployments', 'monitoring', 'pipelines', 'settings'];

for (const scheme of ['light', 'dark']) {
  for (const [w, h] of [[1280, 800], [1024, 640]]) {
    test(`every navigation entry renders (${scheme}, ${w}×${h})`, async () => {
      const page = await env.open({ width: w, height: h, colorScheme: scheme });
      const status = await page.textContent('[data-testid="docker-state"]');
      assert.match(status, /Docker (\d+\.\d+|not running — jobs will run as local processes)/);
      for (const area of areas) {
        await page.click(`[data-nav="${area}"]`);
        await page.waitForSelector(`main[data-area="${area}"] h1`);
        const h1 = await page.textContent(`main[data-area="${area}"] h1`);
        assert.ok(h1.trim().length > 0, `${area} has a title`);
        assert.equal(await page.getAttribute(`[data-nav="${area}"]`, 'aria-current'), 'page');
        // Nothing overflows the window horizontally.
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${area} overflows by ${overflow}px`);
        await screenshot(page, `shell-${area}-${scheme}-${w}x${h}`);
      }
      assert.deepEqual(page.jsErrors, [], 'no script errors');
      await page.context().close();
    });
  }
}

test('the command palette jumps between areas', async () => {
  const page = await env.open();
  await page.keyboard.press('Control+k');
  await page.fill('[aria-label="Command"]', 'deploy');
  await page.keyboard.press('Enter');
  await page.waitForSelector('main[data-area="deployments"]');
  await page.keyboard.press('Alt+7');
  await page.waitForSelector('main[data-area="settings"]');
  assert.match(await page.textContent('main'), /MLFLOW_TRACKING_URI/);
  await page.context().close();
});

test('the command palette finds objects by name', async () => {
  const csv = 'a,b\n1,x\n2,y\n3,z\n';
  const res = await fetch(`${env.tern.url}/api/datasets/upload?filename=palette-birds.csv&importId=imp-palette`, {
    method: 'POST',
    headers: { Authorization: 'Bearer ' + env.tern.token, 'Content-Type': 'text/csv' },
    body: csv,
  });
  assert.equal(res.status, 200, await res.clone().text());
  const version = await res.json();
  const page = await env.open();
  await page.click('[data-nav="settings"]');
  await page.keyboard.press('Control+k');
  await page.fill('[aria-label="Command"]', 'palette-birds');
  await page.waitForSelector('.palette button:has-text("Dataset palette-birds")');
  await page.keyboard.press('Enter');
  await page.waitForSelector('main[data-area="datasets"]');
  assert.ok((await page.evaluate(() => location.hash)).includes(encodeURIComponent(version.datasetId)));
  await screenshot(page, 'shell-palette-dataset');
  await page.context().close();
});
