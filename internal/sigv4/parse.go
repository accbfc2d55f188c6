package sigv4

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// credential is the parsed Credential: AKID/YYYYMMDD/region/service/aws4_request.
type credential struct {
	accessKeyID string
	date        string // YYYYMMDD
	region      string
	service     string
}

// authFields is what the Authorization header or the presigned query carries.
type authFields struct {
	cred          credential
	signedHeaders []string // lowercase, strictly sorted, includes "host"
	signature     string   // 64 lowercase hex digits
	amzDate       string   // presigned only: X-Amz-Date
	expires       time.Duration
}

// Limits on what a client may send; real clients stay far below them.
const (
	maxAccessKeyID   = 128
	maxSignedHeaders = 64
	maxExpires       = 7 * 24 * time.Hour // S3's limit for a presigned URL
)

func malformedHeader(msg string) *Error {
	return newError(CodeHeaderMalformed, "The authorization header is malformed; "+msg)
}

func queryError(msg string) *Error { return newError(CodeQueryParametersError, msg) }

// parseAuthorization parses an "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=..." header. The three parts may come in any order, separated by ',' and optional
// spaces; each must appear exactly once.
func parseAuthorization(h string) (authFields, *Error) {
	var f authFields
	rest, ok := strings.CutPrefix(h, algorithm+" ")
	if !ok {
		return f, newError(CodeInvalidRequest,
			"The authorization mechanism you have provided is not supported. Please use "+algorithm+".")
	}
	var seen [3]bool
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.Trim(part, " "), "=")
		i := slices.Index([]string{"Credential", "SignedHeaders", "Signature"}, k)
		if i < 0 || seen[i] {
			return f, malformedHeader("unexpected or repeated part " + strconv.Quote(trunc(k)) + ".")
		}
		seen[i] = true
		var err *Error
		switch i {
		case 0:
			f.cred, err = parseCredential(v, malformedHeader)
		case 1:
			f.signedHeaders, err = parseSignedHeaders(v, malformedHeader)
		case 2:
			f.signature, err = parseSignature(v, malformedHeader)
		}
		if err != nil {
			return f, err
		}
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return f, malformedHeader("it needs Credential, SignedHeaders and Signature.")
	}
	return f, nil
}

// parseCredential parses AKID/YYYYMMDD/region/service/aws4_request.
func parseCredential(v string, fail func(string) *Error) (credential, *Error) {
	var c credential
	parts := strings.Split(v, "/")
	if len(parts) != 5 || parts[4] != terminator {
		return c, fail(`the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`)
	}
	c = credential{accessKeyID: parts[0], date: parts[1], region: parts[2], service: parts[3]}
	if c.accessKeyID == "" || len(c.accessKeyID) > maxAccessKeyID || !printable(c.accessKeyID) {
		return c, fail("the access key ID is malformed.")
	}
	if _, err := time.Parse(yyyymmdd, c.date); err != nil || len(c.date) != 8 {
		return c, fail("invalid credential date " + strconv.Quote(trunc(c.date)) + ".")
	}
	if c.region == "" || c.service == "" || !printable(c.region) || !printable(c.service) {
		return c, fail("the credential scope is malformed.")
	}
	return c, nil
}

// parseSignedHeaders checks "a;b;host;..." is lowercase, sorted, without repeats, and names
// host (S3 requires it).
func parseSignedHeaders(v string, fail func(string) *Error) ([]string, *Error) {
	hs := strings.Split(v, ";")
	if len(hs) > maxSignedHeaders {
		return nil, fail("too many SignedHeaders.")
	}
	host := false
	for i, h := range hs {
		if h == "" || !isLowerToken(h) {
			return nil, fail("SignedHeaders has an invalid name " + strconv.Quote(trunc(h)) + ".")
		}
		if i > 0 && hs[i-1] >= h {
			return nil, fail("SignedHeaders must be sorted and without repeats.")
		}
		host = host || h == "host"
	}
	if !host {
		return nil, fail("SignedHeaders must include host.")
	}
	return hs, nil
}

// parseSignature checks for 64 lowercase hex digits.
func parseSignature(v string, fail func(string) *Error) (string, *Error) {
	if len(v) != 64 || !isLowerHex(v) {
		return "", fail("the Signature must be 64 lowercase hexadecimal digits.")
	}
	return v, nil
}

// presignParams are the query parameters of a presigned URL.
var presignParams = []string{
	"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
	"X-Amz-SignedHeaders", "X-Amz-Signature",
}

// parsePresigned reads the X-Amz-* parameters of a presigned URL; each must appear once.
func parsePresigned(query []param) (authFields, *Error) {
	var f authFields
	var vals [6]string
	var seen [6]bool
	for _, p := range query {
		if i := slices.Index(presignParams, p.key); i >= 0 {
			if seen[i] {
				return f, queryError(p.key + " must appear once.")
			}
			seen[i], vals[i] = true, p.value
		}
	}
	for i, name := range presignParams {
		if !seen[i] {
			return f, queryError("Query-string authentication version 4 requires the X-Amz-Algorithm, " +
				"X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters; " +
				name + " is missing.")
		}
	}
	if vals[0] != algorithm {
		return f, queryError("X-Amz-Algorithm only supports \"" + algorithm + "\".")
	}
	var err *Error
	fail := func(msg string) *Error { return queryError("Error parsing the X-Amz-Credential parameter; " + msg) }
	if f.cred, err = parseCredential(vals[1], fail); err != nil {
		return f, err
	}
	f.amzDate = vals[2]
	secs, perr := strconv.ParseInt(vals[3], 10, 64)
	switch {
	case perr != nil:
		return f, queryError("X-Amz-Expires should be a number.")
	case secs < 1:
		return f, queryError("X-Amz-Expires must be at least 1.")
	case secs > int64(maxExpires/time.Second):
		return f, queryError("X-Amz-Expires must be less than a week (in seconds); that is, at most 604800.")
	}
	f.expires = time.Duration(secs) * time.Second
	fail = func(msg string) *Error {
		return queryError("Error parsing X-Amz-SignedHeaders or X-Amz-Signature; " + msg)
	}
	if f.signedHeaders, err = parseSignedHeaders(vals[4], fail); err != nil {
		return f, err
	}
	if f.signature, err = parseSignature(vals[5], fail); err != nil {
		return f, err
	}
	return f, nil
}

// printable reports whether s is visible ASCII, without '/' or spaces.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '/' {
			return false
		}
	}
	return true
}

// isLowerToken reports whether s is an HTTP header name in lowercase.
func isLowerToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// trunc shortens client input quoted back in a message.
func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
