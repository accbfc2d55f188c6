package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The ceiling for POST /token: the least a control call has to do — read and decode the JSON
// body, write one record to Redis (a single HSET of the same fields the gateway stores), and
// answer with JSON — on bare net/http and go-redis with default settings. It runs as its own
// process (this program started with -ceiling-listen), so that it competes for the two cores
// exactly as the gateway does: a separate process next to the load generator, not sharing
// its Go scheduler and garbage collector.

// ceilingRequest is the body the bench posts.
type ceilingRequest struct {
	Bucket   string `json:"bucket"`
	Key      string `json:"key"`
	Method   string `json:"method"`
	MaxHits  int64  `json:"max_hits"`
	Filename string `json:"filename"`
}

// serveCeiling serves until the process is killed.
func serveCeiling(addr, redisAddr string) error {
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr, MaxRetries: -1})
	defer rdb.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+controlToken {
			http.Error(w, `{"code":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		var req ceilingRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			http.Error(w, `{"code":"bad_request"}`, http.StatusBadRequest)
			return
		}
		var b [21]byte
		_, _ = rand.Read(b[:])
		tok := base64.RawURLEncoding.EncodeToString(b[:])
		exp := time.Now().Add(30 * time.Minute).Unix()
		err := rdb.HSet(r.Context(), "ceil:t:"+tok,
			"b", req.Bucket, "k", req.Key, "m", req.Method, "e", exp, "h", req.MaxHits, "f", req.Filename).Err()
		if err != nil {
			http.Error(w, `{"code":"store_unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		body, _ := json.Marshal(struct {
			Token    string `json:"token"`
			Method   string `json:"method"`
			Filename string `json:"filename"`
			ExpireAt int64  `json:"expire_at"`
			URL      string `json:"url"`
		}{tok, req.Method, req.Filename, exp, "http://" + r.Host + "/object/" + tok})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body)
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	return srv.ListenAndServe()
}
