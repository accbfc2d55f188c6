package api

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiterKeys(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newLimiter(RateLimit{PerMinute: 60, Burst: 2}, func() time.Time { return now })
	for _, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2::ffff"} { // one /64
		l.fail(ip)
	}
	if blocked, wait := l.blocked("2001:db8:1:2:aaaa::1"); !blocked || wait != time.Second {
		t.Fatalf("same /64: got blocked %v wait %s, want true 1s", blocked, wait)
	}
	if blocked, _ := l.blocked("2001:db8:1:3::1"); blocked {
		t.Fatal("another /64 is blocked")
	}
	l.fail("::ffff:192.0.2.7")
	l.fail("192.0.2.7")
	if blocked, _ := l.blocked("192.0.2.7"); !blocked {
		t.Fatal("IPv4-mapped and plain IPv4 are one client")
	}
	if blocked, _ := l.blocked("not an ip"); blocked {
		t.Fatal("an unparseable address is blocked")
	}
	if newLimiter(RateLimit{}, time.Now) != nil {
		t.Fatal("PerMinute 0 should turn the limiter off")
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newLimiter(RateLimit{PerMinute: 60, Burst: 5}, func() time.Time { return now })
	for i := range maxTracked + 10 {
		l.fail(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	if n := len(l.clients); n > maxTracked {
		t.Fatalf("tracking %d clients, want at most %d", n, maxTracked)
	}
}
