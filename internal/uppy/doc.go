// Package uppy serves the S3 endpoints that Uppy's @uppy/aws-s3 plugin calls when it is given
// a `companionEndpoint` (tested against @uppy/aws-s3 6.3.1), under /uppy/{token}: the browser
// sends the bytes straight to the bucket, in parts, with URLs the gateway presigns — only for
// a valid PUT token, only for that token's key, and only up to its size cap.
//
//	GET    /uppy/{token}/s3/params?type=…                        → {url, fields, method}: a POST policy
//	POST   /uppy/{token}/s3/multipart  {type, …}                 → {uploadId, key}
//	GET    /uppy/{token}/s3/multipart/{uploadId}/{part}?key=…    → {url, expires}
//	GET    /uppy/{token}/s3/multipart/{uploadId}?key=…           → [{PartNumber, ETag, Size}]
//	POST   /uppy/{token}/s3/multipart/{uploadId}/complete?key=…  {parts} → {location, key}
//	DELETE /uppy/{token}/s3/multipart/{uploadId}?key=…           → 204
//
// Invariants:
//   - An uploadId is a token.Upload session of Kind "uppy", filed under its token (and the
//     token generation that created it): the id a client gets is the session's ID, and the
//     store's multipart upload id stays in the session (StoreID). An id of another token, of
//     another kind or of an upload that ended, or a key other than the token's, is 403.
//   - Starting a multipart upload consumes the token's hit (token.Store.Access, method PUT),
//     and the session holds it: aborting — by the client, past the cap, or by the janitor
//     when the session expires — hands it back (DeleteUpload). Completion clears the session's
//     hold before it asks the store, so a completed upload never gets its hit back, whatever
//     fails afterwards (fail closed). A POST policy consumes a hit when it is handed out.
//   - Size cap: a part number above ceil(size / 5 MiB) (S3's smallest part, so no
//     contiguously numbered upload within the cap needs more) is refused with 413, and the
//     upload is aborted: the file is larger than the cap. At completion the named parts'
//     sizes, as the store lists them, must add up to no more than the cap; otherwise the
//     upload is aborted, nothing is stored, 413. A POST policy's content-length-range caps a
//     form upload. A part URL cannot sign a length (Uppy's request for it says none), so
//     until completion a client can park at most bound × 5 GiB of parts in the bucket; the
//     completion check, the abort and the janitor discard them.
//   - The Content-Type is fixed when the upload starts (CreateMultipartUpload, or the POST
//     policy's exact condition) and judged there by the rule of /object (proxy.MediaAllowed:
//     a wildcard never admits an active type). A token's metadata is stored with the object;
//     the metadata a client proposes is ignored, as is its file name: the key is the token's.
//   - Tokens and presigned URLs are credentials: neither is ever logged (the access log
//     carries token.LogID only).
//
// Sessions expire with their token's record (expire_at + token.retention); the janitor
// (internal/upload) hands expired ones to Cleanup, which aborts the store's upload. A
// started upload may go on (sign, list, complete, abort) until then; starting one needs a
// live token. A revoked token ends its uploads at once.
package uppy
