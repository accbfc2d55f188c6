// Opens objects of the gateway by navigation, for e2e/active_test.go, and prints one JSON
// object on stdout: for each case, whether its script ran (a marker in the document, and
// one in the gateway origin's localStorage, read afterwards from a page of that origin),
// whether a download started, and what an image or video document displays. Exit status 1
// when the run could not complete (the JSON then carries "fatal").
//
// Environment (all required):
//   AG_CHROMIUM       the browser executable (/usr/bin/chromium); nothing is ever downloaded
//   AG_USER_DATA_DIR  a fresh, empty profile folder
//   AG_ORIGIN_URL     a page of the gateway's origin (…/healthz), to read its localStorage
//   AG_CASES          a JSON array of {name, url}
import { chromium } from 'playwright-core';

const env = {};
for (const name of ['AG_CHROMIUM', 'AG_USER_DATA_DIR', 'AG_ORIGIN_URL', 'AG_CASES']) {
  env[name] = process.env[name];
  if (!env[name]) {
    console.error(`active.mjs: ${name} is not set`);
    process.exit(2);
  }
}

const STEP_MS = 10000;
const log = (...args) => console.error('[active.mjs]', ...args);
const result = { cases: [] };
let context;

try {
  context = await chromium.launchPersistentContext(env.AG_USER_DATA_DIR, {
    executablePath: env.AG_CHROMIUM,
    headless: true,
    timeout: 15000,
    acceptDownloads: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  context.setDefaultTimeout(STEP_MS);
  context.setDefaultNavigationTimeout(STEP_MS);
  result.browserVersion = context.browser()?.version() ?? null;
  for (const c of JSON.parse(env.AG_CASES)) {
    const page = await context.newPage();
    page.on('console', (m) => log(`${c.name} console.${m.type()}: ${m.text()}`));
    const out = { name: c.name, download: false };
    const download = page.waitForEvent('download', { timeout: 3000 }).then(() => true, () => false);
    try {
      const resp = await page.goto(c.url, { waitUntil: 'load' });
      out.status = resp ? resp.status() : null;
      await page.waitForTimeout(300); // an onload handler, a deferred script
      Object.assign(out, await page.evaluate(async () => {
        const img = document.images[0];
        const video = document.querySelector('video');
        if (video) {
          await new Promise((resolve) => {
            if (video.readyState >= 1) return resolve();
            video.addEventListener('loadedmetadata', resolve, { once: true });
            setTimeout(resolve, 3000);
          });
        }
        return {
          marker: globalThis.__pwned ?? null,
          imageWidth: img ? img.naturalWidth : null,
          videoReady: video ? video.readyState : null,
          videoWidth: video ? video.videoWidth : null,
        };
      }));
    } catch (e) {
      out.navigationError = String(e.message || e).split('\n')[0]; // a download aborts the navigation
    }
    // Only a navigation that a download aborted waits for its download event.
    out.download = out.navigationError?.includes('Download') ? await download : false;
    await page.close();
    result.cases.push(out);
  }
  const origin = await context.newPage();
  await origin.goto(env.AG_ORIGIN_URL, { waitUntil: 'load' });
  result.storage = await origin.evaluate(() => ({ pwned: localStorage.getItem('pwned'), cookie: document.cookie }));
} catch (e) {
  result.fatal = String(e && e.stack ? e.stack : e);
  process.exitCode = 1;
} finally {
  if (context) await context.close().catch((e) => log('close:', e.message));
}
process.stdout.write(JSON.stringify(result) + '\n');
