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
// Optional:
//   AG_TUS_FILE       a file the page uploads with tus-js-client, reloading itself mid-upload
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

  // Last, after the screenshot: it reloads the page.
  if (process.env.AG_TUS_FILE) result.tus = await tusAcrossReload(context, page, process.env.AG_TUS_FILE);
} catch (e) {
  result.fatal = String(e && e.stack ? e.stack : e);
  process.exitCode = 1;
} finally {
  if (context) await context.close().catch((e) => log('close:', e.message));
}
process.stdout.write(JSON.stringify(result) + '\n');

// tusAcrossReload starts a tus upload in the page with uploads slowed down (DevTools network
// emulation), reloads the page once the first chunk is stored — the next chunk is then on its
// way — and resumes the upload in the reloaded page. It returns both halves and every request
// to /tus/ with its Upload-Offset, marked before or after the reload.
// The file is given by path: Playwright hands the browser the file itself (a buffer would be
// copied over at a few MB/s).
async function tusAcrossReload(context, page, file) {
  const began = Date.now();
  log('tus');
  const requests = [];
  let phase = 'before';
  page.on('request', (req) => {
    if (!new URL(req.url()).pathname.startsWith('/tus/')) return;
    requests.push({ phase, method: req.method(), offset: req.headers()['upload-offset'] ?? null });
  });
  const cdp = await context.newCDPSession(page);
  const throttle = (uploadThroughput) => cdp.send('Network.emulateNetworkConditions',
    { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput });
  await cdp.send('Network.enable');
  await page.setInputFiles('#tusfile', file);
  await throttle(4 << 20); // bytes per second: a 2 MiB chunk takes about half a second
  const started = await page.evaluate(() => window.ag.tusStart());
  phase = 'after';
  log('tus: reload');
  await page.reload({ waitUntil: 'load' });
  await throttle(-1);
  await page.setInputFiles('#tusfile', file);
  const resumed = await page.evaluate(() => window.ag.tusResume());
  log(`tus: done in ${Date.now() - began} ms`);
  return { started, resumed, requests };
}
