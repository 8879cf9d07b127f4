// Shared by every browser e2e test: a real `tern serve` on a fresh data
// dir, and Debian's headless Chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
export const shotsDir = resolve(repoRoot, 'test-output', 'screenshots');

/** Path of the tern binary under test (make test builds it into bin/). */
export const ternBin = process.env.TERN_BIN || join(repoRoot, 'bin', 'tern');

/**
 * Starts `tern serve` on a free loopback port and a temp data dir.
 * Resolves once it printed its address; `stop()` ends it and cleans up.
 */
export async function startTern({ dataDir, args = [], env = {} } = {}) {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'tern-e2e-'));
  const proc = spawn(ternBin, ['serve', '--addr', '127.0.0.1:0', '--data-dir', dir, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  const ready = await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`tern serve did not start in 20 s\n${out}\n${err}`)), 20_000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /Open (http:\/\/[^\s/]+)\/#token=([0-9a-f]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        res({ url: m[1], token: m[2] });
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`tern serve exited with ${code}\n${out}\n${err}`));
    });
  });
  return {
    ...ready,
    dataDir: dir,
    openUrl: `${ready.url}/#token=${ready.token}`,
    output: () => out + err,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
      return proc.exitCode;
    },
  };
}

/** Launches Debian's Chromium headless; never downloads a browser. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
}

/** Opens a signed-in page on a tern started by startTern. */
export async function openTern(browser, tern, { width = 1280, height = 800, colorScheme = 'light' } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(tern.openUrl);
  await page.waitForSelector('[data-testid="status-bar"]');
  page.jsErrors = errors;
  return page;
}

export async function screenshot(page, name) {
  mkdirSync(shotsDir, { recursive: true });
  const path = join(shotsDir, `${name}.png`);
  await page.screenshot({ path });
  return path;
}
