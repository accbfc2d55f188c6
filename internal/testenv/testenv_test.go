package testenv

import (
	"net/http"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

func TestRedisStartsAndRestarts(t *testing.T) {
	r := StartRedis(t)
	if err := pingRedis(r.Addr); err != nil {
		t.Fatalf("ping: %v", err)
	}
	r.Stop()
	if err := pingRedis(r.Addr); err == nil {
		t.Fatal("redis still answers after Stop")
	}
	r.Restart(t)
	if err := pingRedis(r.Addr); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
}

func TestS3ServersStart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB, bool) *S3
	}{{"minio", MinIO}, {"versitygw", VersityGW}} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.start(t, false)
			resp, err := http.Get(s.Endpoint + "/")
			if err != nil {
				t.Fatalf("GET %s: %v", s.Endpoint, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("anonymous list answered %d, want an auth refusal", resp.StatusCode)
			}
		})
	}
}
