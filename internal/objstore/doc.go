// Package objstore holds the object stores behind a bucket alias, all behind one contract,
// Backend: S3 (any S3 API: AWS S3, Tencent COS, MinIO, R2, …) and File (a local directory).
//
// Invariants every Backend keeps (contract_test.go checks them against the File
// backend, MinIO over http and https, and versitygw):
//   - bodies stream in both directions; an upload of unknown length holds at most
//     PartSize × (PartConcurrency+1) bytes (S3) or one copy buffer (File);
//   - an upload is visible entirely or not at all: a failed or cancelled Put leaves no object
//     and no partial object (multipart uploads are aborted), and an object previously stored
//     under the key stays as it was;
//   - store errors are translated once, at the backend: a missing key is ErrObjectNotFound,
//     an unsatisfiable range a *RangeError carrying the object's size, anything else an
//     upstream failure that still wraps the cause;
//   - both also offer Multipart (multipart.go): parts sent over many requests, the object
//     appearing whole at completion (multipart_contract_test.go);
//   - a download's Body tells its source's failures from its destination's (ErrBodyCut);
//   - S3 is also a DirectUploader (s3presign.go): it presigns the parts of a multipart upload
//     and HTML-form uploads under a POST policy, for clients that send the bytes to the
//     store themselves (Uppy's S3 endpoints, internal/uppy).
//
// The S3 backend sends everything through the AWS SDK but GET and HEAD on a direct endpoint,
// which take a fast path sharing the SDK's signer, retryer, transport settings and the one
// error map (s3fast.go; why, with numbers: docs/design.md).
//
// # S3 permissions
//
// The credentials of an S3 bucket alias need, on that bucket:
//   - s3:GetObject — GET and HEAD of objects;
//   - s3:PutObject — uploads, including every multipart step (CreateMultipartUpload,
//     UploadPart, CompleteMultipartUpload) and the presigned parts and form uploads of direct
//     uploads (they are signed with the alias's credentials);
//   - s3:DeleteObject — DELETE tokens;
//   - s3:ListMultipartUploadParts — resumable uploads (tus) list the parts they stored when
//     they complete;
//   - s3:AbortMultipartUpload — discarding a failed multipart upload, so that no parts are
//     left behind (an "AbortIncompleteMultipartUpload" lifecycle rule on the bucket is a good
//     second line of defence against a gateway killed mid-upload);
//   - s3:ListBucket — without it S3 answers 403 instead of 404 for a missing key (the gateway
//     would report upstream_error rather than object_not_found), and the readiness check
//     (HeadBucket) needs it.
package objstore
