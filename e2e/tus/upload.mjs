// Drives tus-js-client (Node) for e2e/tus_test.go: one upload of one file, or its resumption,
// and prints one JSON object on stdout: how it ended and every request it sent.
//
// Environment:
//   AG_FILE        the file to upload
//   AG_ENDPOINT    the tus creation URL (a PUT token's tus_url), to start an upload, or
//   AG_UPLOAD_URL  an upload URL, to resume that upload (tus-js-client asks HEAD first)
//   AG_CHUNK       bytes per PATCH
//   AG_ABORT_AT    optional: abort(false) — stop, keeping the upload — once this many bytes
//                  were sent, in the middle of a PATCH
import { readFile } from 'node:fs/promises';
import { Upload } from 'tus-js-client';

const env = process.env;
for (const name of ['AG_FILE', 'AG_CHUNK']) {
  if (!env[name] || !(env.AG_ENDPOINT || env.AG_UPLOAD_URL)) {
    console.error(`upload.mjs: set AG_FILE, AG_CHUNK and AG_ENDPOINT or AG_UPLOAD_URL`);
    process.exit(2);
  }
}
const abortAt = env.AG_ABORT_AT ? Number(env.AG_ABORT_AT) : 0;
const file = await readFile(env.AG_FILE);
const requests = [];

const result = await new Promise((resolve) => {
  let upload;
  let aborting = false;
  const options = {
    chunkSize: Number(env.AG_CHUNK),
    retryDelays: [0, 200, 500, 1000, 2000, 4000],
    metadata: { filename: 'e2e.bin', filetype: 'application/octet-stream' },
    onBeforeRequest: (req) => {
      const offset = req.getHeader('Upload-Offset');
      requests.push({ method: req.getMethod(), offset: offset === undefined ? null : Number(offset) });
    },
    onProgress: (sent) => {
      if (abortAt > 0 && sent >= abortAt && !aborting) {
        aborting = true;
        upload.abort(false).then(() => resolve({ event: 'aborted', url: upload.url, sent }));
      }
    },
    onSuccess: () => resolve({ event: 'done', url: upload.url }),
    onError: (err) => resolve({ event: 'error', error: String(err) }),
  };
  if (env.AG_UPLOAD_URL) {
    options.uploadUrl = env.AG_UPLOAD_URL;
  } else {
    options.endpoint = env.AG_ENDPOINT;
  }
  upload = new Upload(file, options);
  upload.start();
});
process.stdout.write(JSON.stringify({ ...result, requests }) + '\n');
