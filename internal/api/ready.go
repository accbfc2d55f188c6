package api

import (
	"context"
	"net/http"
	"sort"
	"sync"
)

// readyz serves GET /readyz: 200 when every decisive check passes (the token store
// answers), each within the ready timeout. Advisory checks (a bucket alias is reachable) are
// reported in the body and in a metric but decide nothing: a store down for one alias must
// not take every replica out of rotation, since every replica shares it and the other
// aliases still work. The body names each check's state; the cause of a failure goes to the
// log, not to the (unauthenticated) probe.
func (a *API) readyz(w http.ResponseWriter, r *http.Request) error {
	checks := make(map[string]func(context.Context) error, len(a.ready)+len(a.advisory))
	for name, c := range a.ready {
		checks[name] = c
	}
	for name, c := range a.advisory {
		checks[name] = c
	}
	names := make([]string, 0, len(checks))
	for name := range checks {
		names = append(names, name)
	}
	sort.Strings(names)
	results := make([]string, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), a.readyWait)
			defer cancel()
			err := checks[name](ctx)
			switch {
			case err == nil:
				results[i] = "ok"
			case ctx.Err() == context.DeadlineExceeded:
				results[i] = "timeout"
			default:
				results[i] = "unreachable"
			}
			if err != nil {
				a.log.Warn("readiness_check_failed", "check", name, "error", err)
			}
		}()
	}
	wg.Wait()
	status, code := "ok", http.StatusOK
	states := make(map[string]string, len(names))
	for i, name := range names {
		states[name] = results[i]
		a.metrics.Check(name, results[i] == "ok")
		if _, decisive := a.ready[name]; decisive && results[i] != "ok" {
			status, code = "unavailable", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": states})
	return nil
}
