import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callBound, launchBrowser, openTern, screenshot, startTern } from './harness.mjs';

const dataDir = mkdtempSync(join(tmpdir(), 'tern-e2e-encrypt-'));
const PASS = 'e2e passphrase 1';
let browser;
after(async () => {
  await browser?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function settings(tern, opts) {
  const page = await openTern(browser, tern, opts);
  await page.click('[data-nav="settings"]');
  await page.waitForSelector('[data-testid="encryption-state"]');
  await page.locator('#enc-h').scrollIntoViewIfNeeded();
  return page;
}

async function shots(tern, name) {
  for (const scheme of ['light', 'dark']) {
    for (const [w, h] of [[1280, 800], [1024, 640]]) {
      const page = await settings(tern, { width: w, height: h, colorScheme: scheme });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `overflows by ${overflow}px`);
      await screenshot(page, `settings-encryption-${name}-${scheme}-${w}x${h}`);
      await page.context().close();
    }
  }
}

test('encrypt the data folder from Settings, restart, rotate the key', async () => {
  browser = await launchBrowser();
  let tern = await startTern({ dataDir });
  try {
    const res = await fetch(`${tern.url}/api/datasets/upload?filename=iris.csv&importId=imp-enc`, {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + tern.token, 'Content-Type': 'text/csv' },
      body: 'a,b,c\n1,2,x\n3,4,y\n5,6,z\n',
    });
    assert.equal(res.status, 200, await res.clone().text());
    await shots(tern, 'off');

    const page = await settings(tern);
    assert.match(await page.textContent('[data-testid="encryption-state"]'), /Not encrypted/);
    // Passphrases that differ are refused before any call.
    await page.fill('#enc-new-p1', PASS);
    await page.fill('#enc-new-p2', PASS + 'x');
    await page.click('text=Encrypt this data folder');
    await page.waitForSelector('text=The two passphrases differ.');
    await page.fill('#enc-new-p2', PASS);
    await page.click('text=Encrypt this data folder');
    await page.waitForSelector('[data-testid="encryption-state"]:has-text("An encrypted copy is ready")', { timeout: 30_000 });
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
    await shots(tern, 'ready');

    // Discarding the copy, then preparing it again.
    const again = await settings(tern);
    await again.click('text=Discard the copy');
    await again.waitForSelector('text=Discarded. The data folder stays unencrypted.');
    assert.ok(!existsSync(join(dataDir, '.encrypting')));
    await again.fill('#enc-new-p1', PASS);
    await again.fill('#enc-new-p2', PASS);
    await again.click('text=Encrypt this data folder');
    await again.waitForSelector('[data-testid="encryption-state"]:has-text("An encrypted copy is ready")', { timeout: 30_000 });
    await again.context().close();
  } finally {
    await tern.stop();
  }

  // Without the passphrase the next start refuses in words and changes nothing.
  await assert.rejects(startTern({ dataDir }), /encrypted with a passphrase.*TERN_PASSPHRASE/s);
  assert.ok(existsSync(join(dataDir, '.encrypting')), 'the prepared copy is still there');

  // With it, the switch happens and the data is all there.
  tern = await startTern({ dataDir, env: { TERN_PASSPHRASE: PASS } });
  try {
    assert.ok(existsSync(join(dataDir, 'encryption.json')));
    assert.ok(!existsSync(join(dataDir, '.encrypting')));
    const list = await callBound(tern, 'Datasets.List');
    assert.deepEqual(list.map((d) => d.name), ['iris']);
    await shots(tern, 'on');

    const page = await settings(tern);
    assert.match(await page.textContent('[data-testid="encryption-state"]'), /^\s*Encrypted\./);
    await page.fill('#enc-current', 'wrong passphrase');
    await page.fill('#enc-rot-p1', 'e2e passphrase 2');
    await page.fill('#enc-rot-p2', 'e2e passphrase 2');
    await page.click('text=Rotate key');
    await page.waitForSelector('text=That passphrase does not open this data folder.');
    await page.fill('#enc-current', PASS);
    await page.fill('#enc-rot-p1', 'e2e passphrase 2');
    await page.fill('#enc-rot-p2', 'e2e passphrase 2');
    await page.click('text=Rotate key');
    await page.waitForSelector('text=The key was rotated');
    await screenshot(page, 'settings-encryption-rotated-light-1280x800');
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  } finally {
    await tern.stop();
  }
  // The new passphrase opens it.
  tern = await startTern({ dataDir, env: { TERN_PASSPHRASE: 'e2e passphrase 2' } });
  await tern.stop();
});
