package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signing describes one request signed by aws-sdk-go-v2's signer.
type signing struct {
	method  string
	key     string // object key, escaped into the path as S3 clients do
	query   string // raw query
	body    []byte
	payload string // x-amz-content-sha256; "" means the body's SHA-256
	headers map[string]string
	region  string // "" means testRegion
	service string // "" means "s3"
	secret  string // "" means testSecret
	at      time.Time
}

func (s signing) clientRequest(t testing.TB) *http.Request {
	t.Helper()
	u := "http://bucket.example.com:9000/" + s3Escape(s.key)
	if s.query != "" {
		u += "?" + s.query
	}
	r, err := http.NewRequest(s.method, u, bytes.NewReader(s.body))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.body) == 0 {
		r.Body, r.ContentLength = http.NoBody, 0
	}
	for k, v := range s.headers {
		r.Header.Set(k, v)
	}
	return r
}

func (s signing) defaults() signing {
	if s.region == "" {
		s.region = testRegion
	}
	if s.service == "" {
		s.service = "s3"
	}
	if s.secret == "" {
		s.secret = testSecret
	}
	if s.at.IsZero() {
		s.at = testTime
	}
	if s.payload == "" {
		sum := sha256.Sum256(s.body)
		s.payload = hex.EncodeToString(sum[:])
	}
	return s
}

func (s signing) creds() aws.Credentials {
	return aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: s.secret}
}

func s3Options(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }

// signed signs with SignHTTP and returns the request as a server receives it.
func (s signing) signed(t testing.TB) *http.Request {
	t.Helper()
	s = s.defaults()
	r := s.clientRequest(t)
	r.Header.Set("X-Amz-Content-Sha256", s.payload)
	err := v4.NewSigner().SignHTTP(context.Background(), s.creds(), r, s.payload, s.service, s.region, s.at, s3Options)
	if err != nil {
		t.Fatal(err)
	}
	return wire(t, r)
}

// presigned signs with PresignHTTP (payload UNSIGNED-PAYLOAD unless s.payload says otherwise)
// and returns the request a holder of the URL sends, as a server receives it.
func (s signing) presigned(t testing.TB, expires string) *http.Request {
	t.Helper()
	if s.payload == "" {
		s.payload = "UNSIGNED-PAYLOAD"
	}
	s = s.defaults()
	r := s.clientRequest(t)
	q := r.URL.Query()
	q.Set("X-Amz-Expires", expires)
	r.URL.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	u, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), s.creds(), r, s.payload, s.service, s.region, s.at, s3Options)
	if err != nil {
		t.Fatal(err)
	}
	out, err := http.NewRequest(s.method, u, bytes.NewReader(s.body))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.body) == 0 {
		out.Body, out.ContentLength = http.NoBody, 0
	}
	for k, vs := range hdr {
		if k != "Host" {
			out.Header[k] = vs
		}
	}
	return wire(t, out)
}

var oddKeys = []string{
	"plain.txt",
	"with space and  two.txt",
	"unicode/ünïcødé-文件.bin",
	"plus+sign",
	"percent%41%2F",
	"tilde~x",
	"double//slash",
	"trailing/",
	"./dot/../dotdot",
	"!*'()[]&$@=;:,?#",
	"",
}

var queries = []string{
	"",
	"uploads",
	"partNumber=1&uploadId=x",
	"list-type=2&prefix=a%20b",
	"prefix=a+b&delimiter=%2F",
	"b=2&a=1&a=0",
	"versionId=",
	"x=a%2Fb&x=a-b",
}

func TestSignHTTPRoundTrip(t *testing.T) {
	methods := []string{"GET", "PUT", "HEAD", "DELETE"}
	for i, key := range oddKeys {
		for j, query := range queries {
			method := methods[(i+j)%len(methods)]
			s := signing{method: method, key: key, query: query}
			if method == "PUT" {
				s.body = []byte("body of " + key)
				s.headers = map[string]string{"X-Amz-Meta-Note": "  two  spaces  ", "Content-Type": "text/plain"}
			}
			if (i+j)%3 == 0 {
				s.payload = "UNSIGNED-PAYLOAD"
			}
			t.Run(method+" "+key+" ?"+query, func(t *testing.T) {
				r := s.signed(t)
				a, err := testVerifier().verify(r, testTime)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if a.AccessKeyID != testAKID || a.Presigned || !a.Time.Equal(testTime) {
					t.Fatalf("got %+v", a)
				}
				got, err := io.ReadAll(a.Body(r.Body))
				if err != nil || !bytes.Equal(got, s.body) {
					t.Fatalf("body: got %q, %v; want %q", got, err, s.body)
				}
			})
		}
	}
}

func TestPresignHTTPRoundTrip(t *testing.T) {
	methods := []string{"GET", "PUT", "HEAD", "DELETE"}
	for i, key := range oddKeys {
		query := queries[i%len(queries)]
		method := methods[i%len(methods)]
		s := signing{method: method, key: key, query: query}
		if method == "PUT" {
			s.body = []byte("presigned body")
		}
		t.Run(method+" "+key+" ?"+query, func(t *testing.T) {
			r := s.presigned(t, "900")
			a, err := testVerifier().verify(r, testTime.Add(14*time.Minute))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !a.Presigned || !a.Expires.Equal(testTime.Add(900*time.Second)) || a.Payload != PayloadUnsigned {
				t.Fatalf("got %+v", a)
			}
			got, err := io.ReadAll(a.Body(r.Body))
			if err != nil || !bytes.Equal(got, s.body) {
				t.Fatalf("body: got %q, %v; want %q", got, err, s.body)
			}
		})
	}
}

func TestPresignedSignedPayload(t *testing.T) {
	body := []byte("exact bytes")
	sum := sha256.Sum256(body)
	s := signing{method: "PUT", key: "k", body: body, payload: hex.EncodeToString(sum[:]),
		headers: map[string]string{"X-Amz-Content-Sha256": hex.EncodeToString(sum[:])}}
	r := s.presigned(t, "60")
	a, err := testVerifier().verify(r, testTime)
	if err != nil {
		t.Fatal(err)
	}
	if a.Payload != PayloadSHA256 {
		t.Fatalf("got payload %v, want SHA256", a.Payload)
	}
	r.Body = io.NopCloser(strings.NewReader("other bytes"))
	r.ContentLength = int64(len(body))
	_, err = io.ReadAll(a.Body(r.Body))
	wantCode(t, err, CodeContentSHA256Mismatch)
}

// mutate returns a header-signed GET changed by f after signing.
func mutate(t *testing.T, s signing, f func(r *http.Request)) *http.Request {
	r := s.signed(t)
	f(r)
	return r
}

// refusal is a request Verify must refuse with want; v and at default to testVerifier and
// testTime.
type refusal struct {
	name string
	r    *http.Request
	v    *Verifier
	at   time.Time
	want string
}

var refusalGET = signing{method: "GET", key: "a/b c", query: "prefix=x",
	headers: map[string]string{"X-Amz-Meta-A": "1", "Range": "bytes=0-1"}}

func setAuth(v string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", v) }
}

// tamperRefusals are well-formed requests changed after signing, or checked against the
// wrong secret, key, time or scope.
func tamperRefusals(t *testing.T) []refusal {
	get := refusalGET
	goodAuth := get.signed(t).Header.Get("Authorization")
	return []refusal{
		{name: "wrong secret", r: get.signed(t), v: &Verifier{Region: testRegion, Secret: secrets(map[string]string{testAKID: "other"})}, want: CodeSignatureDoesNotMatch},
		{name: "unknown key", r: get.signed(t), v: &Verifier{Region: testRegion, Secret: secrets(nil)}, want: CodeInvalidAccessKeyID},
		{name: "tampered header", r: mutate(t, get, func(r *http.Request) { r.Header.Set("X-Amz-Meta-A", "2") }), want: CodeSignatureDoesNotMatch},
		{name: "tampered range", r: mutate(t, get, func(r *http.Request) { r.Header.Set("Range", "bytes=0-2") }), want: CodeSignatureDoesNotMatch},
		{name: "tampered path", r: mutate(t, get, func(r *http.Request) { r.URL.Path = "/a/b  c" }), want: CodeSignatureDoesNotMatch},
		{name: "tampered host", r: mutate(t, get, func(r *http.Request) { r.Host = "evil.example.com:9000" }), want: CodeSignatureDoesNotMatch},
		{name: "tampered method", r: mutate(t, get, func(r *http.Request) { r.Method = "DELETE" }), want: CodeSignatureDoesNotMatch},
		{name: "tampered query", r: mutate(t, get, func(r *http.Request) { r.URL.RawQuery = "prefix=y" }), want: CodeSignatureDoesNotMatch},
		{name: "added query", r: mutate(t, get, func(r *http.Request) { r.URL.RawQuery += "&versionId=1" }), want: CodeSignatureDoesNotMatch},
		{name: "tampered payload hash", r: mutate(t, get, func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") }), want: CodeSignatureDoesNotMatch},
		{name: "tampered date", r: mutate(t, get, func(r *http.Request) { r.Header.Set("X-Amz-Date", "20260101T120001Z") }), want: CodeSignatureDoesNotMatch},
		{name: "tampered signature", r: mutate(t, get, setAuth(strings.Replace(goodAuth, "Signature=", "Signature=0", 1)[:len(goodAuth)])), want: CodeSignatureDoesNotMatch},
		{name: "unsigned x-amz header", r: mutate(t, get, func(r *http.Request) { r.Header.Set("X-Amz-Meta-B", "x") }), want: CodeAccessDenied},
		{name: "skew behind", r: get.signed(t), at: testTime.Add(16 * time.Minute), want: CodeRequestTimeTooSkewed},
		{name: "skew ahead", r: get.signed(t), at: testTime.Add(-16 * time.Minute), want: CodeRequestTimeTooSkewed},
		{name: "wrong region", r: signing{method: "GET", key: "k", region: "eu-west-1"}.signed(t), want: CodeHeaderMalformed},
		{name: "wrong service", r: signing{method: "GET", key: "k", service: "ec2"}.signed(t), want: CodeHeaderMalformed},
		{name: "empty body wrong hash", r: signing{method: "GET", key: "k", payload: strings.Repeat("ab", 32)}.signed(t), want: CodeContentSHA256Mismatch},
		{name: "no date", r: mutate(t, get, func(r *http.Request) { r.Header.Del("X-Amz-Date") }), want: CodeAccessDenied},
		{name: "bad date", r: mutate(t, get, func(r *http.Request) { r.Header.Set("X-Amz-Date", "2026-01-01T12:00:00Z") }), want: CodeAccessDenied},
		{name: "credential date differs", r: mutate(t, get, setAuth(strings.Replace(goodAuth, "/20260101/", "/20260102/", 1))), want: CodeHeaderMalformed},
	}
}

// malformedRefusals are requests whose authentication or payload headers are malformed.
func malformedRefusals(t *testing.T) []refusal {
	get := refusalGET
	goodAuth := get.signed(t).Header.Get("Authorization")
	cred := "Credential=" + testAKID + "/20260101/us-east-1/s3/aws4_request"
	sig := "Signature=" + strings.Repeat("a", 64)
	return []refusal{
		{name: "missing content sha256", r: mutate(t, get, func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }), want: CodeInvalidRequest},
		{name: "invalid content sha256", r: signing{method: "GET", key: "k", payload: "nonsense"}.signed(t), want: CodeInvalidArgument},
		{name: "sigv4a payload", r: signing{method: "GET", key: "k", payload: "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"}.signed(t), want: CodeInvalidArgument},
		{name: "no auth", r: mutate(t, get, func(r *http.Request) { r.Header.Del("Authorization") }), want: CodeAccessDenied},
		{name: "two auth headers", r: mutate(t, get, func(r *http.Request) { r.Header.Add("Authorization", goodAuth) }), want: CodeInvalidArgument},
		{name: "header and query auth", r: mutate(t, get, func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Signature=x" }), want: CodeInvalidArgument},
		{name: "sigv2 header", r: mutate(t, get, setAuth("AWS "+testAKID+":c2lnbmF0dXJl")), want: CodeInvalidRequest},
		{name: "sigv2 query", r: mutate(t, get, func(r *http.Request) {
			r.Header.Del("Authorization")
			r.URL.RawQuery = "AWSAccessKeyId=x&Signature=y&Expires=1"
		}), want: CodeInvalidRequest},
		{name: "missing signature", r: mutate(t, get, setAuth(algorithm+" "+cred+", SignedHeaders=host")), want: CodeHeaderMalformed},
		{name: "repeated part", r: mutate(t, get, setAuth(algorithm+" "+cred+", "+cred+", SignedHeaders=host, "+sig)), want: CodeHeaderMalformed},
		{name: "unknown part", r: mutate(t, get, setAuth(algorithm+" "+cred+", SignedHeaders=host, "+sig+", Foo=bar")), want: CodeHeaderMalformed},
		{name: "short credential", r: mutate(t, get, setAuth(algorithm+" Credential="+testAKID+"/20260101/us-east-1/s3, SignedHeaders=host, "+sig)), want: CodeHeaderMalformed},
		{name: "bad terminator", r: mutate(t, get, setAuth(algorithm+" Credential="+testAKID+"/20260101/us-east-1/s3/aws5_request, SignedHeaders=host, "+sig)), want: CodeHeaderMalformed},
		{name: "bad credential date", r: mutate(t, get, setAuth(algorithm+" Credential="+testAKID+"/2026011/us-east-1/s3/aws4_request, SignedHeaders=host, "+sig)), want: CodeHeaderMalformed},
		{name: "empty access key", r: mutate(t, get, setAuth(algorithm+" Credential=/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, "+sig)), want: CodeHeaderMalformed},
		{name: "unsorted signed headers", r: mutate(t, get, setAuth(algorithm+" "+cred+", SignedHeaders=x-amz-date;host, "+sig)), want: CodeHeaderMalformed},
		{name: "uppercase signed header", r: mutate(t, get, setAuth(algorithm+" "+cred+", SignedHeaders=Host, "+sig)), want: CodeHeaderMalformed},
		{name: "no host signed", r: mutate(t, get, setAuth(algorithm+" "+cred+", SignedHeaders=x-amz-date, "+sig)), want: CodeHeaderMalformed},
		{name: "uppercase signature", r: mutate(t, get, setAuth(algorithm+" "+cred+", SignedHeaders=host, Signature="+strings.Repeat("A", 64))), want: CodeHeaderMalformed},
		{name: "short signature", r: mutate(t, get, setAuth(algorithm+" "+cred+", SignedHeaders=host, Signature=abc")), want: CodeHeaderMalformed},
		{name: "bad query escape", r: mutate(t, get, func(r *http.Request) { r.URL.RawQuery = "prefix=%zz" }), want: CodeInvalidArgument},
		{name: "bad checksum header", r: signing{method: "PUT", key: "k", body: []byte("x"), headers: map[string]string{"X-Amz-Checksum-Crc32": "nope"}}.signed(t), want: CodeInvalidRequest},
		{name: "unsupported checksum header", r: signing{method: "PUT", key: "k", body: []byte("x"), headers: map[string]string{"X-Amz-Checksum-Xxhash64": "AAAAAAAAAAA="}}.signed(t), want: CodeInvalidRequest},
		{name: "repeated checksum header", r: mutate(t, signing{method: "PUT", key: "k", body: []byte("x"), headers: map[string]string{"X-Amz-Checksum-Crc32": "AAAAAA=="}}, func(r *http.Request) {
			r.Header.Add("X-Amz-Checksum-Crc32", "AAAAAA==")
		}), want: CodeInvalidRequest},
		{name: "bad content-md5", r: signing{method: "PUT", key: "k", body: []byte("x"), headers: map[string]string{"Content-Md5": "AAAA"}}.signed(t), want: CodeInvalidDigest},
		{name: "bad trailer name", r: signing{method: "PUT", key: "k", payload: "STREAMING-UNSIGNED-PAYLOAD-TRAILER", headers: map[string]string{"X-Amz-Trailer": "x-amz-meta-a"}}.signed(t), want: CodeInvalidRequest},
		{name: "bad decoded length", r: signing{method: "PUT", key: "k", payload: "STREAMING-UNSIGNED-PAYLOAD-TRAILER", headers: map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32", "X-Amz-Decoded-Content-Length": "-1"}}.signed(t), want: CodeInvalidArgument},
	}
}

func TestHeaderRefusals(t *testing.T) {
	for _, tt := range append(tamperRefusals(t), malformedRefusals(t)...) {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.v
			if v == nil {
				v = testVerifier()
			}
			at := tt.at
			if at.IsZero() {
				at = testTime
			}
			a, err := v.verify(tt.r, at)
			if a != nil {
				t.Fatalf("got Auth %+v, want an error", a)
			}
			wantCode(t, err, tt.want)
		})
	}
}

func TestPresignRefusals(t *testing.T) {
	get := signing{method: "GET", key: "a b", query: "versionId=3"}
	setQuery := func(k, v string) func(*http.Request) {
		return func(r *http.Request) {
			q := r.URL.Query()
			q.Set(k, v)
			r.URL.RawQuery = q.Encode()
		}
	}
	pre := func(f func(*http.Request)) *http.Request {
		r := get.presigned(t, "3600")
		f(r)
		return r
	}
	tests := []struct {
		name string
		r    *http.Request
		at   time.Time
		want string
		msg  string
	}{
		{name: "expired", r: get.presigned(t, "3600"), at: testTime.Add(time.Hour + time.Second), want: CodeAccessDenied, msg: "Request has expired"},
		{name: "not yet valid", r: get.presigned(t, "3600"), at: testTime.Add(-16 * time.Minute), want: CodeAccessDenied, msg: "Request is not valid yet"},
		{name: "expires zero", r: get.presigned(t, "0"), want: CodeQueryParametersError},
		{name: "expires over a week", r: get.presigned(t, "604801"), want: CodeQueryParametersError},
		{name: "expires not a number", r: get.presigned(t, "soon"), want: CodeQueryParametersError},
		{name: "tampered expires", r: pre(setQuery("X-Amz-Expires", "7200")), want: CodeSignatureDoesNotMatch},
		{name: "tampered query", r: pre(setQuery("versionId", "4")), want: CodeSignatureDoesNotMatch},
		{name: "tampered signature", r: pre(setQuery("X-Amz-Signature", strings.Repeat("0", 64))), want: CodeSignatureDoesNotMatch},
		{name: "wrong region", r: signing{method: "GET", key: "k", region: "eu-west-1"}.presigned(t, "60"), want: CodeQueryParametersError},
		{name: "wrong service", r: signing{method: "GET", key: "k", service: "sqs"}.presigned(t, "60"), want: CodeQueryParametersError},
		{name: "wrong algorithm", r: pre(setQuery("X-Amz-Algorithm", "AWS4-HMAC-SHA512")), want: CodeQueryParametersError},
		{name: "missing signature", r: pre(func(r *http.Request) {
			q := r.URL.Query()
			q.Del("X-Amz-Signature")
			r.URL.RawQuery = q.Encode()
		}), want: CodeQueryParametersError},
		{name: "repeated signature", r: pre(func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Signature=" + strings.Repeat("0", 64) }), want: CodeQueryParametersError},
		{name: "bad date", r: pre(setQuery("X-Amz-Date", "yesterday")), want: CodeQueryParametersError},
		{name: "unsigned x-amz header", r: pre(func(r *http.Request) { r.Header.Set("X-Amz-Acl", "public-read") }), want: CodeAccessDenied},
		{name: "streaming payload", r: signing{method: "PUT", key: "k", payload: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
			headers: map[string]string{"X-Amz-Content-Sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}}.presigned(t, "60"), want: CodeInvalidRequest},
		{name: "unknown key", r: pre(setQuery("X-Amz-Credential", "NOBODY/20260101/us-east-1/s3/aws4_request")), want: CodeInvalidAccessKeyID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := tt.at
			if at.IsZero() {
				at = testTime
			}
			_, err := testVerifier().verify(tt.r, at)
			wantCode(t, err, tt.want)
			var e *Error
			if tt.msg != "" && errors.As(err, &e) && e.Message != tt.msg {
				t.Fatalf("got message %q, want %q", e.Message, tt.msg)
			}
		})
	}
}

func TestSecretErrors(t *testing.T) {
	r := signing{method: "GET", key: "k"}.signed(t)
	boom := errors.New("store down")
	tests := []struct {
		name   string
		secret func(context.Context, string) (string, error)
		check  func(t *testing.T, err error)
	}{
		{"store error is passed on", func(context.Context, string) (string, error) { return "", boom }, func(t *testing.T, err error) {
			var e *Error
			if !errors.Is(err, boom) || errors.As(err, &e) {
				t.Fatalf("got %v, want the store's error, unclassified", err)
			}
		}},
		{"*Error is answered as it is", func(context.Context, string) (string, error) {
			return "", &Error{Code: CodeAccessDenied, Message: "revoked", Status: 403}
		}, func(t *testing.T, err error) { wantCode(t, err, CodeAccessDenied) }},
		{"wrapped unknown key", func(context.Context, string) (string, error) {
			return "", errors.Join(errors.New("no such token"), ErrUnknownAccessKey)
		}, func(t *testing.T, err error) { wantCode(t, err, CodeInvalidAccessKeyID) }},
		{"empty secret", func(context.Context, string) (string, error) { return "", nil },
			func(t *testing.T, err error) { wantCode(t, err, CodeInvalidAccessKeyID) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := (&Verifier{Region: testRegion, Secret: tt.secret}).verify(r, testTime)
			tt.check(t, err)
		})
	}
}

func TestDateHeaderFallback(t *testing.T) {
	// A client that signs with Date instead of X-Amz-Date: its string to sign carries the
	// ISO 8601 form of that date.
	s := signing{method: "GET", key: "k"}.defaults()
	r := s.clientRequest(t)
	r.Header.Set("X-Amz-Content-Sha256", s.payload)
	r.Header.Set("Date", testTime.Format(http.TimeFormat))
	f := authFields{cred: credential{testAKID, "20260101", testRegion, "s3"}, signedHeaders: []string{"date", "host", "x-amz-content-sha256"}}
	sn := newSigner(deriveKey(testSecret, "20260101", testRegion, "s3"), "20260101T120000Z", scope("20260101", testRegion, "s3"))
	sig := sn.requestSignature(canonicalRequest(wire(t, r), nil, "", f.signedHeaders, s.payload))
	r.Header.Set("Authorization", algorithm+" Credential="+testAKID+"/20260101/us-east-1/s3/aws4_request, SignedHeaders=date;host;x-amz-content-sha256, Signature="+sig)
	a, err := testVerifier().verify(wire(t, r), testTime.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Time.Equal(testTime) {
		t.Fatalf("got time %v, want %v", a.Time, testTime)
	}
}

func TestAuthFields(t *testing.T) {
	s := signing{method: "PUT", key: "k", body: []byte("abc"), headers: map[string]string{"X-Amz-Security-Token": "tok"}}
	a, err := testVerifier().verify(s.signed(t), testTime)
	if err != nil {
		t.Fatal(err)
	}
	if a.SecurityToken != "tok" || a.DecodedLength != 3 || a.Payload != PayloadSHA256 {
		t.Fatalf("got %+v", a)
	}
	want := []string{"content-length", "host", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token"}
	if !slices.Equal(a.SignedHeaders, want) {
		t.Fatalf("got signed headers %q, want %q", a.SignedHeaders, want)
	}
}
