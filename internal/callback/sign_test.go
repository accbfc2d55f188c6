package callback

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The Standard Webhooks specification's published test vector (also in the Svix libraries'
// test suites).
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignReproducesStandardWebhooksVector(t *testing.T) {
	s, err := newSigner([]string{vectorSecret})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.sign(vectorID, vectorTimestamp, []byte(vectorBody)); got != vectorSignature {
		t.Fatalf("signature: got %q, want %q", got, vectorSignature)
	}
}

func TestSignRotationGivesOneSignaturePerSecret(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		want    int
	}{
		{"none", nil, 0},
		{"empty secrets are skipped", []string{"", ""}, 0},
		{"one whsec", []string{vectorSecret}, 1},
		{"one raw", []string{"plain-text-secret"}, 1},
		{"rotation", []string{vectorSecret, "previous raw secret"}, 2},
		{"rotation with empty previous", []string{vectorSecret, ""}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := newSigner(tc.secrets)
			if err != nil {
				t.Fatal(err)
			}
			header := s.sign(vectorID, vectorTimestamp, []byte(vectorBody))
			sigs := strings.Fields(header)
			if len(sigs) != tc.want {
				t.Fatalf("signatures: got %d (%q), want %d", len(sigs), header, tc.want)
			}
			for _, sec := range tc.secrets {
				if sec != "" && !verify(sec, vectorID, "1614265330", vectorBody, header) {
					t.Errorf("signature for secret %q does not verify in %q", sec, header)
				}
			}
			if verify("some other secret", vectorID, "1614265330", vectorBody, header) {
				t.Errorf("a wrong secret verifies")
			}
		})
	}
}

func TestBadWhsecSecretIsRejectedWithoutEchoingIt(t *testing.T) {
	const bad = "whsec_not*base64!"
	_, err := New(Options{Secrets: []string{"fine", bad}})
	if err == nil {
		t.Fatal("New accepted an undecodable whsec_ secret")
	}
	if strings.Contains(err.Error(), "not*base64") {
		t.Fatalf("error %q repeats the secret", err)
	}
}

// The body is the seed's JSON: its fields in the seed's order, nothing else.
func TestEventJSONMatchesSpecExample(t *testing.T) {
	const spec = `{"event":"asset.access","method":"PUT","status":200,"bucket":"prod-assets",
 "key":"uploads/report.pdf","size":83214,"etag":"6805f2cfc46c0f04559748bb039d69ae","range":"",
 "client_ip":"127.0.0.1","user_agent":"curl/8.7.1","referer":"",
 "request_id":"0f4f8f4d-6d59-4df0-8a5c-f8352d2a8f47","timestamp":1760000000}`
	var want bytes.Buffer
	if err := json.Compact(&want, []byte(spec)); err != nil {
		t.Fatal(err)
	}
	ev := Event{Event: EventAccess, Method: "PUT", Status: 200, Bucket: "prod-assets", Key: "uploads/report.pdf",
		Size: 83214, ETag: "6805f2cfc46c0f04559748bb039d69ae", ClientIP: "127.0.0.1", UserAgent: "curl/8.7.1",
		RequestID: "0f4f8f4d-6d59-4df0-8a5c-f8352d2a8f47", Timestamp: 1760000000}
	got, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want.String() {
		t.Fatalf("body:\n got %s\nwant %s", got, want.String())
	}
}
