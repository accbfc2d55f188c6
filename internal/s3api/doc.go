// Package s3api is the gateway's S3-compatible listener: a token minted with "s3": true has a
// pair of S3 credentials (Keys) that any S3 client — the aws CLI, boto3, mc, the SDKs — can
// use against it, limited to exactly what the token grants, counted and revocable as the
// token is.
//
// # Addressing
//
// Path-style only: /{bucket}/{key}, where {bucket} is the bucket alias, never the real
// bucket. The listener has an address of its own (s3api.listen): S3 owns the whole path —
// any key, and "/" for ListBuckets — so it cannot share the main listener's paths.
//
// # A request
//
//  1. SigV4 (package sigv4): header or presigned-query auth, payload hashes, aws-chunked
//     bodies with signed chunks or checksum trailers, ±15 minutes of clock skew. The secret
//     is derived from the access key ID without I/O (Keys.Secret), so nothing reaches the
//     token store before the signature holds, and an unsigned guess learns nothing.
//  2. The route (route): the operation, bucket alias, key, upload id and part number. A
//     sub-resource, a copy, another method is AccessDenied, never served as the operation it
//     resembles.
//  3. Admission (access.go): the token's record by the ID in the access key, bound to the
//     nonce that minting (token.Request.S3); the client judged as /object judges it (ip, an
//     upload's content types); the hit reserved; then the scope — the bucket alias and the
//     key must be the token's, or under its prefix's folder — or the hit goes back.
//  4. The access itself is /object's (package proxy: ServeGet, ServeHead, ServePut,
//     ServeDelete), so hits, refunds, headers, upload rules and webhooks are the same.
//
// # Operations, by the token's method
//
//	GET     GetObject (Range, conditional headers), HeadObject
//	HEAD    HeadObject
//	PUT     PutObject; CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
//	        AbortMultipartUpload, ListParts of its key; HeadObject
//	DELETE  DeleteObject, DeleteObjects (each key a DeleteObject of its own); HeadObject
//	LIST    ListObjectsV2 of its prefix; GetObject and HeadObject under it
//	any     ListBuckets (the token's one alias), HeadBucket and GetBucketLocation of it
//
// A GET or HEAD token may have a prefix instead of a key: then every key in the prefix's
// folder. HeadObject is allowed to every token on its key or prefix, as HEAD is on /object;
// so is, to a key token, a ListObjectsV2 of a prefix leading to its key, which lists that key
// alone, as HeadObject sees it (`mc stat` lists before it looks).
//
// # Hits
//
// GetObject, PutObject and DeleteObject (each key of DeleteObjects) cost one hit, and each
// ListObjectsV2 page one; HeadObject, the bucket calls and the multipart calls but Create
// cost none. A multipart upload costs one hit, at Create; its session holds it until
// Complete spends it or Abort (or the janitor, for an abandoned one) hands it back
// (multipart.go). An access that delivered nothing gets its hit back. An exhausted token
// answers AccessDenied with a message saying so. Uploads follow the token's rules (size,
// content_types, sha256, metadata, if_none_match) and a client's "If-None-Match: *".
//
// # Bodies
//
// Uploads stream to the bucket as on /object: sigv4 decodes an aws-chunked body on the fly
// and holds its last byte back until every chunk signature, trailer and checksum held, and
// the object store stores nothing whose body failed, so a tampered body is never visible.
// Nothing is buffered but small XML documents (CompleteMultipartUpload at most 4 MiB,
// DeleteObjects 2 MiB).
//
// # Logs
//
// A request's log line names its token by token.LogID's value (derived from the ID in the
// access key); it never holds a query string (a presigned URL's signature), an access key
// ID or a secret.
package s3api
