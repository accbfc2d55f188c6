// Package sigv4 verifies AWS Signature Version 4 requests the way S3 does, server side, and
// decodes and verifies their bodies while they stream. It is the authentication layer of an
// S3-compatible listener and imports nothing but the standard library.
//
// # Use
//
//	v := &sigv4.Verifier{Region: "us-east-1", Secret: lookup} // lookup gets the access key ID
//	auth, err := v.Verify(r)             // signature, scope, time; reads no body
//	if err != nil {
//		sigv4.WriteError(w, r, err, reqID) // *Error: S3's code and status; else a 500
//		return
//	}
//	body := auth.Body(r.Body)             // the object's bytes, verified while read
//	// PutObject(body) with Content-Length auth.DecodedLength (-1: unknown); abort it on any
//	// read error, and store Content-Encoding as StoredContentEncoding(r.Header).
//
// Secret receives the access key ID, so the caller finds its token record there; it answers
// ErrUnknownAccessKey for an unknown key, or an *Error of its own (AccessDenied for a revoked
// token). An error that is not an *Error is the caller's to log and answer (500 or 503).
//
// # What Verify checks
//
// Header auth (Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=...) and presigned URLs (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
// X-Amz-Expires 1..604800, X-Amz-SignedHeaders, X-Amz-Signature, X-Amz-Security-Token).
// The canonical request is S3's: r.URL.Path (the path decoded once) re-encoded with every byte
// but A-Za-z0-9-._~ and '/' as %XX, without normalization, since keys may hold "//" and "./";
// the raw query decoded once ('+' is a space), re-encoded the same way and sorted by name then
// value after encoding, X-Amz-Signature left out when presigned; the signed headers (sorted,
// host among them) lowercased, values trimmed with runs of spaces collapsed and repeats joined
// by ','; host from r.Host. So the listener must see the Host and path the client sent.
//
// The scope must name Region and Service ("s3"), and its date must be the request's. Header
// auth needs x-amz-content-sha256 and a time (X-Amz-Date, else Date) within MaxSkew of ours;
// a presigned URL must not start more than MaxSkew ahead and must not be past its expiry.
// Every x-amz-* header present must be signed (x-amz-content-sha256 is bound anyway, as the
// canonical request's last line; a presigned request takes it from the query or the header,
// else UNSIGNED-PAYLOAD). Signatures compare in constant time. The signing key is derived per
// request (about 5 us; a cache would keep secrets in memory for little gain next to Secret).
//
// # Payload modes (x-amz-content-sha256)
//
//   - a hex SHA-256: the body must hash to it (an empty body is checked by Verify itself);
//   - UNSIGNED-PAYLOAD: no body hash; checksum headers still apply;
//   - STREAMING-AWS4-HMAC-SHA256-PAYLOAD: aws-chunked, every chunk (at most 16 MiB) signed,
//     chained from the request's signature, then a signed zero-length chunk;
//   - STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: the same, then the checksum trailer named by
//     x-amz-trailer and x-amz-trailer-signature;
//   - STREAMING-UNSIGNED-PAYLOAD-TRAILER: aws-chunked without signatures (aws-sdk-go-v2 sends
//     the whole body as one chunk), then the checksum trailer.
//
// aws-chunked needs header auth; x-amz-decoded-content-length, when sent, must equal the
// decoded length. Checksums, as headers or as the trailer: x-amz-checksum-crc32, -crc32c,
// -crc64nvme, -sha1, -sha256, -sha512, -md5, and Content-MD5. A checksum header we cannot
// compute (xxhash64, xxhash3, xxhash128) is refused rather than passed unchecked. SigV4a
// (ECDSA) is refused. Trailer lines may end in CRLF or LF and empty lines are skipped (minio-go
// sends "name:value\n\r\n"); a missing final empty line is tolerated.
//
// # The body invariant
//
// The reader Body returns never yields the final byte of the decoded body before every check
// passed: the payload SHA-256, each chunk signature, the final chunk, the trailer checksum and
// its signature, x-amz-checksum-* headers, Content-MD5, and the exact length. A failed check
// is an *Error returned instead of that byte, and again on every later Read. Earlier bytes
// stream before the end is verified (a signed chunk's bytes before its signature), so a
// consumer must treat any read error as "discard everything". Memory per body is bounded: a
// 4 KiB line buffer and a few hashes; chunk data is never buffered. TestBodyInvariant and
// FuzzChunkedReader hold this.
package sigv4
