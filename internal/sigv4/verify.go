package sigv4

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Verifier checks SigV4-signed S3 requests. Its fields are read-only once it is in use; one
// Verifier serves any number of goroutines.
type Verifier struct {
	// Region is the region clients sign for, e.g. "us-east-1". Empty accepts the region each
	// client chose (the signing key still binds it).
	Region string
	// Service is the credential scope's service; empty means "s3".
	Service string
	// MaxSkew is how far a header-signed request's time may be from ours, and how far in the
	// future a presigned URL may start; zero means 15 minutes, S3's own limit.
	MaxSkew time.Duration
	// Secret returns the secret access key of accessKeyID, called once per request after the
	// cheap checks passed. For a key it does not know it returns ErrUnknownAccessKey (or an
	// error wrapping it); an *Error it returns is answered as it is; any other error comes
	// back from Verify wrapped, for the caller to answer 500 or 503.
	Secret func(ctx context.Context, accessKeyID string) (secret string, err error)
}

// PayloadMode is how the body is protected, from x-amz-content-sha256.
type PayloadMode int

// The payload modes.
const (
	PayloadSHA256                   PayloadMode = iota + 1 // a hex SHA-256 of the body
	PayloadUnsigned                                        // UNSIGNED-PAYLOAD
	PayloadStreamingSigned                                 // STREAMING-AWS4-HMAC-SHA256-PAYLOAD
	PayloadStreamingSignedTrailer                          // STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER
	PayloadStreamingUnsignedTrailer                        // STREAMING-UNSIGNED-PAYLOAD-TRAILER
)

var payloadNames = map[string]PayloadMode{
	"UNSIGNED-PAYLOAD":                           PayloadUnsigned,
	"STREAMING-AWS4-HMAC-SHA256-PAYLOAD":         PayloadStreamingSigned,
	"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER": PayloadStreamingSignedTrailer,
	"STREAMING-UNSIGNED-PAYLOAD-TRAILER":         PayloadStreamingUnsignedTrailer,
}

func (m PayloadMode) String() string {
	for name, x := range payloadNames {
		if x == m {
			return name
		}
	}
	if m == PayloadSHA256 {
		return "SHA256"
	}
	return "PayloadMode(" + strconv.Itoa(int(m)) + ")"
}

// Chunked reports whether the body is aws-chunked encoded.
func (m PayloadMode) Chunked() bool { return m >= PayloadStreamingSigned }

func (m PayloadMode) signedChunks() bool {
	return m == PayloadStreamingSigned || m == PayloadStreamingSignedTrailer
}

func (m PayloadMode) trailer() bool {
	return m == PayloadStreamingSignedTrailer || m == PayloadStreamingUnsignedTrailer
}

// Auth is a verified request's identity and what its body must still prove.
type Auth struct {
	AccessKeyID   string
	Presigned     bool
	Time          time.Time // the signing time (X-Amz-Date, else Date)
	Expires       time.Time // presigned: when the URL stops working; zero otherwise
	SignedHeaders []string  // lowercase, sorted: the headers the signature covers
	SecurityToken string    // X-Amz-Security-Token as signed; "" when absent
	Payload       PayloadMode
	// DecodedLength is the body's length once decoded: x-amz-decoded-content-length for an
	// aws-chunked body, else Content-Length; -1 when unknown.
	DecodedLength int64

	signer     *signer  // chunked bodies: signs chunks and trailer
	seed       string   // the request's signature, first link of the chunk chain
	payloadSHA []byte   // PayloadSHA256: the body's announced SHA-256
	digests    []digest // checksum headers, Content-MD5, and the trailer's (want nil)
	trailer    string   // the checksum trailer's name, "" for none
	length     int64    // Content-Length as received, -1 unknown
}

// request is what Verify gathers before it needs the secret.
type request struct {
	fields    authFields
	presigned bool
	amzDate   string // the signing time as it is signed: YYYYMMDDTHHMMSSZ
	time      time.Time
	payload   string // the canonical request's last line
	token     string
}

// Verify checks r's signature and returns who signed it. It reads no body: read the body
// through Auth.Body, which fails before its final byte if any payload check fails. Refusals
// are *Error; another error means the Secret lookup failed.
func (v *Verifier) Verify(r *http.Request) (*Auth, error) {
	return v.verify(r, time.Now())
}

// verify is Verify at a given time (tests pass a fixed one).
func (v *Verifier) verify(r *http.Request, now time.Time) (*Auth, error) {
	query, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, newError(CodeInvalidArgument, "The query string is not validly percent-encoded.")
	}
	req, e := v.parse(r, query)
	if e != nil {
		return nil, e
	}
	if e := v.checkTime(req, now); e != nil {
		return nil, e
	}
	if e := checkUnsignedHeaders(r.Header, req.fields.signedHeaders); e != nil {
		return nil, e
	}
	a, e := newAuth(r, req)
	if e != nil {
		return nil, e
	}
	c := req.fields.cred
	secret, err := v.secret(r.Context(), c.accessKeyID)
	if err != nil {
		return nil, err
	}
	a.signer = newSigner(deriveKey(secret, c.date, c.region, c.service), req.amzDate, scope(c.date, c.region, c.service))
	skip := ""
	if req.presigned {
		skip = "X-Amz-Signature"
	}
	a.seed = a.signer.requestSignature(canonicalRequest(r, query, skip, req.fields.signedHeaders, req.payload))
	if !equalSignature(req.fields.signature, a.seed) {
		return nil, errSignature()
	}
	if a.Payload == PayloadSHA256 && a.length == 0 && hex.EncodeToString(a.payloadSHA) != emptySHA256 {
		return nil, errContentSHA256()
	}
	if !a.Payload.signedChunks() {
		a.signer = nil
	}
	return a, nil
}

// parse reads the header or presigned form of authentication, the signing time and the
// payload line.
func (v *Verifier) parse(r *http.Request, query []param) (request, *Error) {
	var req request
	authz := r.Header.Values("Authorization")
	req.presigned = slices.ContainsFunc(query, func(p param) bool { return slices.Contains(presignParams, p.key) })
	switch {
	case len(authz) > 1:
		return req, newError(CodeInvalidArgument, "Only one Authorization header is allowed.")
	case len(authz) == 1 && req.presigned:
		return req, newError(CodeInvalidArgument, "Only one auth mechanism allowed; only the X-Amz-Algorithm "+
			"query parameter or the Authorization header should be specified.")
	case len(authz) == 1:
		return v.parseHeaderAuth(r, authz[0])
	case req.presigned:
		return v.parsePresignedAuth(r, query)
	case slices.ContainsFunc(query, func(p param) bool { return p.key == "AWSAccessKeyId" }):
		return req, newError(CodeInvalidRequest, "The authorization mechanism you have provided is not supported. Please use "+algorithm+".")
	}
	return req, newError(CodeAccessDenied, "Access Denied")
}

func (v *Verifier) parseHeaderAuth(r *http.Request, authz string) (request, *Error) {
	req := request{}
	var e *Error
	if req.fields, e = parseAuthorization(authz); e != nil {
		return req, e
	}
	if e := v.checkScope(req.fields.cred, malformedHeader); e != nil {
		return req, e
	}
	if req.amzDate, req.time, e = headerTime(r.Header); e != nil {
		return req, e
	}
	if req.time.Format(yyyymmdd) != req.fields.cred.date {
		return req, malformedHeader("Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	vs := r.Header.Values("X-Amz-Content-Sha256")
	switch len(vs) {
	case 0:
		return req, newError(CodeInvalidRequest, "Missing required header for this request: x-amz-content-sha256")
	case 1:
		req.payload = vs[0]
	default:
		return req, newError(CodeInvalidArgument, "Only one x-amz-content-sha256 header is allowed.")
	}
	req.token = r.Header.Get("X-Amz-Security-Token")
	return req, nil
}

func (v *Verifier) parsePresignedAuth(r *http.Request, query []param) (request, *Error) {
	req := request{presigned: true}
	var e *Error
	if req.fields, e = parsePresigned(query); e != nil {
		return req, e
	}
	if e := v.checkScope(req.fields.cred, func(msg string) *Error {
		return queryError("Error parsing the X-Amz-Credential parameter; " + msg)
	}); e != nil {
		return req, e
	}
	t, err := time.Parse(iso8601, req.fields.amzDate)
	if err != nil {
		return req, queryError("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\".")
	}
	req.amzDate, req.time = req.fields.amzDate, t
	if t.Format(yyyymmdd) != req.fields.cred.date {
		return req, queryError("Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	req.payload = "UNSIGNED-PAYLOAD"
	for _, p := range query {
		switch p.key {
		case "X-Amz-Content-Sha256":
			req.payload = p.value
		case "X-Amz-Security-Token":
			req.token = p.value
		}
	}
	if !slices.ContainsFunc(query, func(p param) bool { return p.key == "X-Amz-Content-Sha256" }) {
		if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" {
			req.payload = h
		}
	}
	return req, nil
}

// checkScope compares the credential scope with ours.
func (v *Verifier) checkScope(c credential, fail func(string) *Error) *Error {
	service := v.Service
	if service == "" {
		service = "s3"
	}
	if v.Region != "" && c.region != v.Region {
		return fail("the region '" + trunc(c.region) + "' is wrong; expecting '" + v.Region + "'")
	}
	if c.service != service {
		return fail("incorrect service '" + trunc(c.service) + "'. This endpoint belongs to '" + service + "'.")
	}
	return nil
}

// headerTime is the signing time of a header-signed request: X-Amz-Date, else Date (an HTTP
// date, or the ISO 8601 basic form some clients put there).
func headerTime(h http.Header) (string, time.Time, *Error) {
	bad := func() *Error {
		return newError(CodeAccessDenied, "AWS authentication requires a valid Date or x-amz-date header")
	}
	if s := h.Get("X-Amz-Date"); s != "" {
		t, err := time.Parse(iso8601, s)
		if err != nil {
			return "", t, bad()
		}
		return s, t, nil
	}
	s := h.Get("Date")
	t, err := http.ParseTime(s)
	if err != nil {
		if t, err = time.Parse(iso8601, s); err != nil {
			return "", t, bad()
		}
	}
	t = t.UTC()
	return t.Format(iso8601), t, nil
}

// checkTime applies the skew window, and a presigned URL's validity.
func (v *Verifier) checkTime(req request, now time.Time) *Error {
	skew := v.MaxSkew
	if skew <= 0 {
		skew = 15 * time.Minute
	}
	switch {
	case !req.presigned && (req.time.Before(now.Add(-skew)) || req.time.After(now.Add(skew))):
		return newError(CodeRequestTimeTooSkewed, "The difference between the request time and the current time is too large.")
	case req.presigned && req.time.After(now.Add(skew)):
		return newError(CodeAccessDenied, "Request is not valid yet")
	case req.presigned && now.After(req.time.Add(req.fields.expires)):
		return newError(CodeAccessDenied, "Request has expired")
	}
	return nil
}

// checkUnsignedHeaders refuses x-amz-* headers the signature does not cover, as S3 does.
// x-amz-content-sha256 is bound anyway: it is the canonical request's last line.
func checkUnsignedHeaders(h http.Header, signed []string) *Error {
	for k := range h {
		name := strings.ToLower(k)
		if !strings.HasPrefix(name, "x-amz-") || name == "x-amz-content-sha256" {
			continue
		}
		if _, ok := slices.BinarySearch(signed, name); !ok {
			return newError(CodeAccessDenied, "There were headers present in the request which were not signed")
		}
	}
	return nil
}

// secret looks the access key up and sorts its errors.
func (v *Verifier) secret(ctx context.Context, accessKeyID string) (string, error) {
	if v.Secret == nil {
		return "", errors.New("sigv4: Verifier.Secret is nil")
	}
	s, err := v.Secret(ctx, accessKeyID)
	var e *Error
	switch {
	case errors.As(err, &e):
		return "", e
	case errors.Is(err, ErrUnknownAccessKey) || err == nil && s == "":
		return "", newError(CodeInvalidAccessKeyID, "The AWS Access Key Id you provided does not exist in our records.")
	case err != nil:
		return "", fmt.Errorf("sigv4: secret lookup: %w", err)
	}
	return s, nil
}

func errContentSHA256() *Error {
	return newError(CodeContentSHA256Mismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
}
