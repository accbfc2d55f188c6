// Drives Uppy in Debian's Chromium for e2e/uppy_test.go: the page (uppy.html, served by the
// test) uploads files through tokens' uppy_endpoint, straight to the bucket. Prints one JSON
// object on stdout: each case's result as Uppy reported it, and every request the page made
// to the gateway or the bucket (method, host, path — never a query string: part URLs are
// credentials — status or failure). Exit status 1 when the run could not complete (the JSON
// then carries "fatal").
//
// Environment (all required):
//   AG_CHROMIUM       the browser executable (/usr/bin/chromium); nothing is ever downloaded
//   AG_USER_DATA_DIR  a fresh, empty profile folder
//   AG_PAGE_URL       the page, on an origin other than the gateway's and the bucket's
//   AG_CASES          a JSON array of {name, endpoint, size, seed, type, chunkSize?,
//                     reloadAfterParts?}: with reloadAfterParts, the page is reloaded once
//                     that many parts are up, and the upload resumed as Uppy resumes one
//                     after a reload (its saved state, then the parts listing)
import { chromium } from 'playwright-core';

const env = {};
for (const name of ['AG_CHROMIUM', 'AG_USER_DATA_DIR', 'AG_PAGE_URL', 'AG_CASES']) {
  env[name] = process.env[name];
  if (!env[name]) {
    console.error(`uppy.mjs: ${name} is not set`);
    process.exit(2);
  }
}

const STEP_MS = 10000;
const UPLOAD_MS = 30000;
const log = (...args) => console.error('[uppy.mjs]', ...args);
const result = { cases: [], requests: [] };
let context;
let current = '';

// record notes an answered or failed request of the page, without its query string.
const record = (req, status, failure) => {
  const u = new URL(req.url());
  if (u.origin === new URL(env.AG_PAGE_URL).origin) return;
  result.requests.push({ case: current, method: req.method(), host: u.host, path: u.pathname, status, failure });
};

// ready opens (or reloads) the page and waits for its script.
const ready = async (page, reload) => {
  if (reload) await page.reload({ waitUntil: 'load' });
  else await page.goto(env.AG_PAGE_URL, { waitUntil: 'load' });
  await page.waitForFunction(() => window.agReady === true);
};

try {
  context = await chromium.launchPersistentContext(env.AG_USER_DATA_DIR, {
    executablePath: env.AG_CHROMIUM,
    headless: true,
    timeout: 15000,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  context.setDefaultTimeout(STEP_MS);
  context.setDefaultNavigationTimeout(STEP_MS);
  result.browserVersion = context.browser()?.version() ?? null;
  const page = context.pages()[0] ?? await context.newPage();
  page.on('console', (m) => log(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log('page error:', e.message));
  page.on('response', (resp) => record(resp.request(), resp.status(), ''));
  page.on('requestfailed', (req) => record(req, 0, req.failure()?.errorText ?? 'failed'));
  await ready(page, false);

  for (const c of JSON.parse(env.AG_CASES)) {
    current = c.name;
    log('case', c.name);
    const out = { name: c.name };
    const began = Date.now();
    if (!c.reloadAfterParts) {
      out.result = await page.evaluate((c) => window.agRun(c), c);
      out.ms = Date.now() - began;
      result.cases.push(out);
      continue;
    }
    // Start, let some parts go up, reload while the next one is on its way to the bucket
    // (its PUT is cut), resume.
    const first = page.evaluate((c) => window.agRun(c), c).catch((e) => ({ cut: String(e).split('\n')[0] }));
    await page.waitForFunction((c) => (window.agParts[c.name] ?? []).length >= c.reloadAfterParts, c, { timeout: UPLOAD_MS });
    await page.waitForRequest((req) => req.method() === 'PUT', { timeout: UPLOAD_MS });
    current = c.name + ':reload';
    await ready(page, true);
    out.beforeReload = await first;
    current = c.name + ':resumed';
    out.result = await page.evaluate((c) => window.agRun({ ...c, resume: true }), c);
    out.ms = Date.now() - began;
    result.cases.push(out);
  }
} catch (e) {
  result.fatal = String(e && e.stack ? e.stack : e);
  process.exitCode = 1;
} finally {
  if (context) await context.close().catch((e) => log('close:', e.message));
}
process.stdout.write(JSON.stringify(result) + '\n');
