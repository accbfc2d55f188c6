package callback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// userAgent identifies the gateway's deliveries.
const userAgent = "AssetGateway-Webhook/1"

// newTransport builds the pool's own transport: no proxy from the environment, every
// connection through dial (which resolves with the pool's Resolver and refuses denied
// addresses in Dialer.Control).
func (p *Pool) newTransport(perHost int) *http.Transport {
	return &http.Transport{
		Proxy:                  nil, // never a proxy from HTTP_PROXY & co: it would bypass the dial check
		DialContext:            p.dial,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    p.timeout,
		ResponseHeaderTimeout:  p.timeout,
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    perHost,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: maxResponseBytes,
	}
}

// dial connects to addr, resolving a name with the pool's Resolver and trying each address in
// turn. The dialer's Control refuses denied addresses, so the check applies to the very
// address connected to, whatever a name resolved to when the token was minted.
func (p *Pool) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("callback: bad port %q", portText)
	}
	var ips []netip.Addr
	if ip, ok, err := literalIP(host); err != nil {
		return nil, err
	} else if ok {
		ips = []netip.Addr{ip}
	} else {
		ips, err = p.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("callback: %s has no addresses", host)
		}
	}
	d := &net.Dialer{
		Timeout:   p.timeout,
		KeepAlive: 30 * time.Second,
		Control:   dialControl(func(ap netip.AddrPort) bool { return dialRefused(ap, p.allowPrivate) }),
	}
	var first error
	for _, ip := range ips {
		c, err := d.DialContext(ctx, network, netip.AddrPortFrom(ip.Unmap(), uint16(port)).String())
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// result is the outcome of one attempt.
type result struct {
	status        int // 0 when no response
	err           error
	retryAfter    time.Duration
	hasRetryAfter bool
}

func (r result) delivered() bool { return r.err == nil && r.status >= 200 && r.status < 300 }

// describe is the failure as logs and dead letters show it: never the URL or its query.
func (r result) describe(timeout time.Duration) string {
	switch {
	case r.err != nil:
		err := r.err
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the whole URL, query included
		}
		switch {
		case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
			return fmt.Sprintf("timed out after %s", timeout)
		case errors.Is(err, errPrivateDial):
			return errPrivateDial.Error()
		}
		return err.Error()
	case r.status >= 300 && r.status < 400:
		return fmt.Sprintf("receiver answered %d: redirects are not followed", r.status)
	case r.status == http.StatusGone:
		return "receiver answered 410 Gone: retries stopped"
	default:
		return fmt.Sprintf("receiver answered %d", r.status)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// attempt POSTs d once, signed, within the per-attempt timeout. The response body is read up
// to 64 KiB (so the connection can be reused) and closed.
func (p *Pool) attempt(ctx context.Context, d *delivery) result {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	body := []byte(d.Body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Target, strings.NewReader(d.Body))
	if err != nil {
		return result{err: err}
	}
	ts := p.clock.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Webhook-Id", d.ID)
	req.Header.Set("Webhook-Timestamp", strconv.FormatInt(ts, 10))
	if sig := p.signer.sign(d.ID, ts, body); sig != "" {
		req.Header.Set("Webhook-Signature", sig)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return result{err: err}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	_ = resp.Body.Close()
	res := result{status: resp.StatusCode}
	if !res.delivered() {
		res.retryAfter, res.hasRetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), p.clock.Now())
	}
	return res
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP-date. A date in the
// past means no delay.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(1<<62/time.Second) {
			n = int64(1 << 62 / time.Second)
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
