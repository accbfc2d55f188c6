package callback

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A name that resolves to a public address when the token is minted and to loopback at
// delivery time (DNS rebinding) is refused at dial time, on the address actually connected to.
func TestRebindingNameRefusedAtDial(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		rc := newReceiver(t, nil)
		res := newStubResolver()
		res.set("rebind.test", "93.184.215.14")
		target := "http://rebind.test:" + strconv.Itoa(int(rc.port())) + "/hook?token=SECRETQUERY"

		g := Guard{Resolver: res}
		if err := g.CheckURL(context.Background(), target); err != nil {
			t.Fatalf("CheckURL at mint time: got %v, want nil (the name resolves public)", err)
		}
		res.set("rebind.test", "127.0.0.1")

		o := e.opts()
		o.AllowPrivate = false
		o.Resolver = res
		o.Retries = []time.Duration{time.Second}
		p := e.pool(o)
		e.run(p)
		e.enqueue(p, target, 1)
		advanceUntil(t, e.clock, time.Second, "the dead letter", func() bool { return p.Stats().DeadLettered == 1 })
		if n := rc.arrivals(); n != 0 {
			t.Fatalf("requests that reached the loopback receiver: got %d, want 0", n)
		}
		if st := p.Stats(); st.Attempts != 2 || st.Failed != 2 {
			t.Fatalf("stats: got %+v, want 2 failed attempts", st)
		}
		dls, _ := p.DeadLetters(context.Background(), 1)
		if len(dls) != 1 || !strings.Contains(dls[0].LastError, "private") {
			t.Fatalf("dead letters: got %+v, want a refused private address", dls)
		}
		logs := e.logs.String()
		if !strings.Contains(logs, "rebind.test:"+strconv.Itoa(int(rc.port()))) {
			t.Errorf("logs do not name the target host:\n%s", logs)
		}
		if strings.Contains(logs, "SECRETQUERY") || strings.Contains(logs, "/hook") {
			t.Errorf("logs contain the URL's path or query:\n%s", logs)
		}
	})
}

// A literal private address is refused at dial time too, even when it skipped the mint check.
func TestLiteralPrivateTargetRefusedAtDial(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		rc := newReceiver(t, nil)
		o := e.opts()
		o.AllowPrivate = false
		o.Retries = []time.Duration{}
		p := e.pool(o)
		e.run(p)
		// 127.1 is how a browser spells 127.0.0.1.
		e.enqueue(p, "http://127.1:"+strconv.Itoa(int(rc.port()))+"/", 1)
		e.enqueue(p, rc.url("/"), 1)
		waitFor(t, "both dead letters", 5*time.Second, func() bool { return p.Stats().DeadLettered == 2 })
		if n := rc.arrivals(); n != 0 {
			t.Fatalf("requests that reached the loopback receiver: got %d, want 0", n)
		}
	})
}

// A public receiver that redirects to loopback: the redirect is a failed attempt and the
// loopback address is never requested.
func TestPublicReceiverRedirectingToLoopback(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		loopback := newReceiver(t, nil)
		public := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) int {
			http.Redirect(w, r, loopback.url("/admin"), http.StatusTemporaryRedirect)
			return http.StatusTemporaryRedirect
		})
		res := newStubResolver()
		res.set("public.test", "127.0.0.1")
		o := e.opts()
		o.AllowPrivate = false
		o.Resolver = res
		o.Retries = []time.Duration{}
		p := e.pool(o)
		// Every test server is on 127.0.0.1: treat the "public" receiver's port as a public
		// address and everything else as denied.
		publicPort := public.port()
		refused := dialRefused
		dialRefused = func(ap netip.AddrPort, _ bool) bool { return ap.Port() != publicPort }
		t.Cleanup(func() { dialRefused = refused })
		e.run(p)
		e.enqueue(p, "http://public.test:"+strconv.Itoa(int(publicPort))+"/hook", 1)
		waitFor(t, "the dead letter", 5*time.Second, func() bool { return p.Stats().DeadLettered == 1 })
		if n := public.arrivals(); n != 1 {
			t.Fatalf("requests to the public receiver: got %d, want 1", n)
		}
		if n := loopback.arrivals(); n != 0 {
			t.Fatalf("requests to the redirect's loopback target: got %d, want 0", n)
		}
		dls, _ := p.DeadLetters(context.Background(), 1)
		if len(dls) != 1 || dls[0].LastStatus != http.StatusTemporaryRedirect {
			t.Fatalf("dead letters: got %+v, want one with status 307", dls)
		}
		g := Guard{}
		if err := g.CheckURL(context.Background(), loopback.url("/admin")); err == nil {
			t.Fatalf("CheckURL(redirect target): got nil, want a refusal")
		}
	})
}

// The transport takes no proxy from the environment: with HTTP_PROXY pointing at a trap, the
// receiver is still reached directly.
func TestNoProxyFromEnvironment(t *testing.T) {
	trap := newReceiver(t, nil)
	t.Setenv("HTTP_PROXY", trap.url(""))
	t.Setenv("http_proxy", trap.url(""))
	e := newEnv(t, mode{"memory", false})
	rc := newReceiver(t, nil)
	p := e.pool(e.opts())
	if p.transport.Proxy != nil {
		t.Fatal("transport.Proxy is set, want nil")
	}
	e.run(p)
	e.enqueue(p, rc.url("/"), 1)
	waitFor(t, "delivery", 5*time.Second, func() bool { return len(rc.delivered()) == 1 })
	if n := trap.arrivals(); n != 0 {
		t.Fatalf("requests through the proxy: got %d, want 0", n)
	}
}
