// Package sigv4 verifies AWS Signature Version 4 requests the way S3 does, server side, and
// decodes and verifies their bodies while they stream. It is the authentication layer of an
// S3-compatible listener and imports nothing but the standard library.
//
// # Use
//
//	v := &sigv4.Verifier{Region: "us-east-1", Secret: lookup}
//	auth, err := v.Verify(r)             // the signature, the scope, the time; no body read
//	if err != nil {
//		sigv4.WriteError(w, r, err, reqID) // *Error: S3's code and status; else 500
//		return
//	}
//	body := auth.Body(r.Body)             // decoded object bytes, verified while read
//	// stream body into PutObject with Content-Length auth.DecodedLength (-1: unknown)
//
// Secret receives the access key ID, so the caller finds its token record there (and may
// refuse with an *Error, e.g. AccessDenied for a revoked token).
//
// # What Verify checks
//
// Header auth (Authorization: AWS4-HMAC-SHA256 ...) and presigned URLs (X-Amz-Algorithm,
// X-Amz-Credential, X-Amz-Date, X-Amz-Expires 1..604800, X-Amz-SignedHeaders,
// X-Amz-Signature). The canonical request is S3's: the path decoded once and re-encoded (every
// byte but A-Za-z0-9-._~ and '/' as %XX, no normalization, since keys may hold "//" and
// "./"); the query decoded once ('+' is a space), re-encoded, sorted by name then value after
// encoding, without X-Amz-Signature when presigned; the signed headers lowercased, values
// trimmed with runs of spaces collapsed and repeats joined by ','; host from r.Host. The scope
// must be Region and Service. Header auth needs x-amz-content-sha256 and a time (X-Amz-Date,
// else Date) within MaxSkew; a presigned URL must not start more than MaxSkew ahead nor be
// past its expiry. Every x-amz-* header present must be signed (x-amz-content-sha256 is bound
// anyway as the canonical request's last line). Signatures compare in constant time.
//
// # The body invariant
//
// The reader Body returns never yields the final byte of the decoded body before every check
// passed: the payload SHA-256, each chunk signature (chained from the request's), the final
// zero-length chunk, the trailer checksum and its signature, x-amz-checksum-* headers,
// Content-MD5, and the exact decoded length. A failed check is an *Error returned instead of
// that byte. Earlier bytes stream before the end is verified (a signed chunk's bytes before
// its signature is checked), so a consumer must treat any read error as "discard everything":
// abort the upload. Memory per body is bounded (a 4 KiB line buffer and a few hashes); chunk
// data is never buffered.
//
// # Payload modes (x-amz-content-sha256)
//
//   - a hex SHA-256: the body must hash to it;
//   - UNSIGNED-PAYLOAD: no body hash (checksum headers still apply);
//   - STREAMING-AWS4-HMAC-SHA256-PAYLOAD: aws-chunked, every chunk signed (at most 16 MiB);
//   - STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: the same, then a checksum trailer signed
//     with x-amz-trailer-signature;
//   - STREAMING-UNSIGNED-PAYLOAD-TRAILER: aws-chunked without chunk signatures, then the
//     checksum trailer named by x-amz-trailer.
//
// Checksums, as headers or as the trailer: x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1,
// -sha256. aws-chunked needs header auth. SigV4a (ECDSA) is refused.
package sigv4
