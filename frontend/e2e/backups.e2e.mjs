import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTern, screenshot, startTern } from './harness.mjs';

const env = useTern({
  setup: async (env) => {
    // Something to back up: a dataset (a stored file and its records).
    const res = await fetch(`${env.tern.url}/api/datasets/upload?filename=iris.csv&importId=imp-backup`, {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + env.tern.token, 'Content-Type': 'text/csv' },
      body: 'a,b,c\n1,2,x\n3,4,y\n5,6,z\n',
    });
    assert.equal(res.status, 200, await res.clone().text());
  },
});

test('back up from Settings, then restore the file into a new folder that opens as a data dir', async () => {
  const page = await env.open();
  await page.click('[data-nav="settings"]');
  const folder = mkdtempSync(join(tmpdir(), 'tern-e2e-backups-'));
  await page.fill('#bk-folder', folder);
  await page.click('text=Back up now');
  const outcome = page.locator('[data-testid="backup-outcome"]');
  await outcome.waitFor({ timeout: 30_000 });
  assert.match(await outcome.textContent(), /^Backed up \d[\d,]* records, 1 stored file .* to .*tern-backup-\d{8}-\d{6}\.tar/);
  const files = readdirSync(folder);
  assert.equal(files.length, 1, 'one backup file, no temp left');
  await screenshot(page, 'settings-backups-done-light-1280x800');

  // A folder that is not empty is refused in words.
  await page.fill('#bk-file', join(folder, files[0]));
  await page.fill('#bk-dir', folder);
  await page.click('button:text("Restore")');
  await page.waitForSelector('text=is not empty');

  const dir = join(mkdtempSync(join(tmpdir(), 'tern-e2e-restore-')), 'restored');
  await page.fill('#bk-dir', dir);
  await page.click('button:text("Restore")');
  await page.waitForSelector('[data-testid="backup-outcome"]:has-text("Restored")', { timeout: 30_000 });
  assert.match(await outcome.textContent(), /every stored file checked against its hash .* --data-dir /);
  assert.deepEqual(page.jsErrors, []);
  await page.context().close();

  // The restored folder is a working data dir holding the dataset.
  const restored = await startTern({ dataDir: dir });
  try {
    const res = await fetch(`${restored.url}/api/call/Datasets.List`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${restored.token}` },
      body: '[]',
    });
    const list = await res.json();
    assert.deepEqual(list.map((d) => d.name), ['iris']);
  } finally {
    await restored.stop();
  }
  assert.ok(existsSync(join(dir, 'db')));
});

test('the schedule is saved, and the card holds in both themes at both sizes', async () => {
  for (const scheme of ['light', 'dark']) {
    for (const [w, h] of [[1280, 800], [1024, 640]]) {
      const page = await env.open({ width: w, height: h, colorScheme: scheme });
      await page.click('[data-nav="settings"]');
      await page.selectOption('#bk-every', '24');
      await page.fill('#bk-keep', '3');
      await page.click('text=Save schedule');
      await page.waitForSelector('text=The next backup runs on schedule');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `overflows by ${overflow}px`);
      await page.locator('#backups-h').scrollIntoViewIfNeeded();
      await screenshot(page, `settings-backups-${scheme}-${w}x${h}`);
      await page.context().close();
    }
  }
  const st = await env.call('Backups.Status');
  assert.equal(st.schedule.everyHours, 24);
  assert.equal(st.schedule.keep, 3);
});
