// Drives Debian's Chromium through the test page for e2e/browser_test.go and prints one JSON
// object on stdout; the Go test asserts on it. Progress and browser console go to stderr.
// Exit status 1 when the run could not complete (the JSON then carries "fatal").
//
// Environment (all required):
//   AG_PAGE_URL       the test page, on an origin other than the gateway's
//   AG_CHROMIUM       the browser executable (/usr/bin/chromium); nothing is ever downloaded
//   AG_USER_DATA_DIR  a fresh, empty profile folder
//   AG_UPLOAD_FILE    the file the page uploads; AG_UPLOAD_NAME and AG_UPLOAD_TYPE its name and type
//   AG_SCREENSHOT     where to write the PNG screenshot
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';

const env = {};
for (const name of ['AG_PAGE_URL', 'AG_CHROMIUM', 'AG_USER_DATA_DIR', 'AG_UPLOAD_FILE', 'AG_UPLOAD_NAME',
  'AG_UPLOAD_TYPE', 'AG_SCREENSHOT']) {
  env[name] = process.env[name];
  if (!env[name]) {
    console.error(`run.mjs: ${name} is not set`);
    process.exit(2);
  }
}

// Explicit bounds everywhere: the Go test kills this process after 45 s regardless.
const LAUNCH_MS = 15000;
const STEP_MS = 10000;

const log = (...args) => console.error('[run.mjs]', ...args);
const result = { console: [], pageErrors: [], requests: [] };
let context;

try {
  context = await chromium.launchPersistentContext(env.AG_USER_DATA_DIR, {
    executablePath: env.AG_CHROMIUM,
    headless: true,
    timeout: LAUNCH_MS,
    acceptDownloads: true,
    viewport: { width: 900, height: 900 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  context.setDefaultTimeout(STEP_MS);
  context.setDefaultNavigationTimeout(STEP_MS);
  result.browserVersion = context.browser()?.version() ?? null;
  const page = context.pages()[0] ?? await context.newPage();
  page.on('console', (m) => {
    log(`console.${m.type()}: ${m.text()}`);
    if (m.type() === 'error') result.console.push(m.text());
  });
  page.on('pageerror', (e) => {
    log('page error:', e.message);
    result.pageErrors.push(e.message);
  });

  // Every request the page makes to a gateway /object URL (media element, fetch), with the
  // Range it sent and what came back.
  const objectRequest = async (req, failure) => {
    const url = new URL(req.url());
    if (!url.pathname.startsWith('/object/')) return;
    const headers = await req.allHeaders();
    const resp = failure ? null : await req.response();
    result.requests.push({
      resourceType: req.resourceType(), method: req.method(), token: url.pathname.slice('/object/'.length),
      range: headers.range ?? null, status: resp ? resp.status() : null,
      contentRange: resp ? await resp.headerValue('content-range') : null, failure: failure ?? null,
    });
  };
  page.on('requestfinished', (req) => objectRequest(req, null).catch((e) => log('request log:', e.message)));
  page.on('requestfailed', (req) => objectRequest(req, req.failure()?.errorText ?? 'failed')
    .catch((e) => log('request log:', e.message)));

  log('open', env.AG_PAGE_URL);
  await page.goto(env.AG_PAGE_URL, { waitUntil: 'load' });

  log('upload');
  await page.setInputFiles('#file', {
    name: env.AG_UPLOAD_NAME, mimeType: env.AG_UPLOAD_TYPE, buffer: await readFile(env.AG_UPLOAD_FILE),
  });
  result.upload = await page.evaluate(() => window.ag.upload());

  log('video');
  result.video = await page.evaluate(() => window.ag.video());

  log('download');
  const minted = await page.evaluate(() => window.ag.prepareDownload());
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: STEP_MS }),
    page.click('#download'),
  ]);
  const failure = await download.failure();
  const saved = failure ? null : await readFile(await download.path());
  result.download = {
    minted: minted.filename,
    suggestedFilename: download.suggestedFilename(),
    failure,
    size: saved ? saved.length : null,
    sha256: saved ? createHash('sha256').update(saved).digest('hex') : null,
  };
  await page.evaluate((r) => window.ag.downloaded(r), result.download);

  log('screenshot', env.AG_SCREENSHOT);
  await page.screenshot({ path: env.AG_SCREENSHOT, fullPage: true, timeout: STEP_MS });
  result.screenshot = env.AG_SCREENSHOT;
} catch (e) {
  result.fatal = String(e && e.stack ? e.stack : e);
  process.exitCode = 1;
} finally {
  if (context) await context.close().catch((e) => log('close:', e.message));
}
process.stdout.write(JSON.stringify(result) + '\n');
