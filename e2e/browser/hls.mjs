// Fetches the segments of an HLS-style rendition through the gateway over HTTPS, from a page
// on the gateway's own origin, for e2e/tls_test.go, and prints one JSON object on stdout:
// each segment's status, size, SHA-256 and the protocol it came over (the Performance API's
// nextHopProtocol; same-origin, so it is exposed). Exit status 1 when the run could not
// complete (the JSON then carries "fatal").
//
// Environment (all required):
//   AG_CHROMIUM       the browser executable (/usr/bin/chromium); nothing is ever downloaded
//   AG_USER_DATA_DIR  a fresh, empty profile folder
//   AG_ORIGIN_URL     a page of the gateway (https://…/healthz) the fetches are made from
//   AG_SEGMENT_URLS   a JSON array of segment URLs, fetched all at once
import { chromium } from 'playwright-core';

const env = {};
for (const name of ['AG_CHROMIUM', 'AG_USER_DATA_DIR', 'AG_ORIGIN_URL', 'AG_SEGMENT_URLS']) {
  env[name] = process.env[name];
  if (!env[name]) {
    console.error(`hls.mjs: ${name} is not set`);
    process.exit(2);
  }
}

const STEP_MS = 10000;
const log = (...args) => console.error('[hls.mjs]', ...args);
const result = {};
let context;

try {
  context = await chromium.launchPersistentContext(env.AG_USER_DATA_DIR, {
    executablePath: env.AG_CHROMIUM,
    headless: true,
    timeout: 15000,
    ignoreHTTPSErrors: true, // the test's self-signed certificate
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--ignore-certificate-errors',
    ],
  });
  context.setDefaultTimeout(STEP_MS);
  context.setDefaultNavigationTimeout(STEP_MS);
  result.browserVersion = context.browser()?.version() ?? null;
  const page = context.pages()[0] ?? await context.newPage();
  page.on('console', (m) => log(`console.${m.type()}: ${m.text()}`));

  log('open', env.AG_ORIGIN_URL);
  await page.goto(env.AG_ORIGIN_URL, { waitUntil: 'load' });
  log('segments');
  Object.assign(result, await page.evaluate(async (urls) => {
    const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
    const segments = await Promise.all(urls.map(async (url) => {
      try {
        const r = await fetch(url, { cache: 'no-store' });
        const body = await r.arrayBuffer();
        return { url, status: r.status, size: body.byteLength, sha256: hex(await crypto.subtle.digest('SHA-256', body)) };
      } catch (e) {
        return { url, error: String(e) };
      }
    }));
    const protocol = new Map(performance.getEntriesByType('resource').map((e) => [e.name, e.nextHopProtocol]));
    for (const s of segments) s.protocol = protocol.get(s.url) ?? null;
    return { segments, pageProtocol: performance.getEntriesByType('navigation')[0]?.nextHopProtocol ?? null };
  }, JSON.parse(env.AG_SEGMENT_URLS)));
} catch (e) {
  result.fatal = String(e && e.stack ? e.stack : e);
  process.exitCode = 1;
} finally {
  if (context) await context.close().catch((e) => log('close:', e.message));
}
process.stdout.write(JSON.stringify(result) + '\n');
