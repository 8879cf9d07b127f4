// Shared by every browser e2e test: a real `tern serve` on a fresh data
// dir, and Debian's headless Chromium driven by playwright-core.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
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
  const imagesBefore = new Set(servingImages());
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
      // Deployments outlive Tern by design (they are reattached at the next
      // start), so a test's serving containers would outlive its data dir:
      // ask which deployments this Tern made while it still answers.
      let deployments = [];
      if (proc.exitCode === null) {
        deployments = await callBound(ready, 'Deployments.List').catch(() => []);
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      if (!dataDir) {
        removeServing((deployments ?? []).map((d) => d.id), imagesBefore);
        rmSync(dir, { recursive: true, force: true });
      }
      return proc.exitCode;
    },
  };
}

/**
 * Removes the serving containers of these deployments, then the serving
 * images built since `imagesBefore` (a version switched away from leaves its
 * image behind too). rmi without force: an image a container uses stays.
 */
function removeServing(ids, imagesBefore) {
  for (const id of ids) {
    const containers = lines(docker('ps', '-aq', '--filter', `label=io.tern.deployment=${id}`));
    if (containers.length) docker('rm', '-f', ...containers);
  }
  const built = servingImages().filter((img) => !imagesBefore.has(img));
  if (built.length) docker('rmi', ...built);
}

function servingImages() {
  return lines(docker('images', '-q', '--no-trunc', '--filter', 'label=io.tern.kind=serving-image'));
}

const docker = (...args) => spawnSync('docker', args, { encoding: 'utf8' }).stdout ?? '';
const lines = (out) => [...new Set(out.split('\n').filter(Boolean))];

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

/**
 * The setup every e2e file shares: one `tern serve` and one browser for the
 * file's tests, started before the first and stopped after the last.
 * Returns an object filled in by then: `tern`, `browser`, `open(opts)` for
 * a signed-in page and `call(name, ...args)` for a bound method over HTTP.
 * `setup(env)` runs once both are up (data the file's tests share);
 * `stopped(exitCode)` once tern serve has exited. (Node 20 starts top-level
 * hooks as they are declared, so a file's own `before` would not wait.)
 */
export function useTern({ setup, stopped, ...opts } = {}) {
  const env = {
    tern: null,
    browser: null,
    open: (pageOpts) => openTern(env.browser, env.tern, pageOpts),
    call: (name, ...args) => callBound(env.tern, name, ...args),
  };
  before(async () => {
    env.tern = await startTern(opts);
    env.browser = await launchBrowser();
    await setup?.(env);
  });
  after(async () => {
    await env.browser?.close();
    const code = await env.tern?.stop();
    stopped?.(code);
  });
  return env;
}

/** Calls a bound method ("Struct.Method") the way the browser face does. */
export async function callBound(tern, name, ...args) {
  const res = await fetch(`${tern.url}/api/call/${name}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${tern.token}` },
    body: JSON.stringify(args),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${name}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/**
 * Drops a DataTransfer (a JSHandle built in the page, as a person's drag
 * would deliver it) on the element `selector` names: dragenter, then drop.
 */
export async function dropOn(page, selector, dataTransfer) {
  await page.dispatchEvent(selector, 'dragenter', { dataTransfer });
  await page.dispatchEvent(selector, 'drop', { dataTransfer });
}
