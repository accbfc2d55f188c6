package callback

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
)

// ErrBadTarget is wrapped by every error CheckURL and Enqueue return for a callback URL that
// may not be used. errors.Is(err, ErrBadTarget) tells a caller to answer 400; err.Error() is
// safe to show the API client (it never repeats the URL).
var ErrBadTarget = errors.New("callback: invalid callback URL")

// targetError is a refusal whose text is safe to show the API client.
type targetError string

func (e targetError) Error() string { return "callback: " + string(e) }
func (e targetError) Unwrap() error { return ErrBadTarget }

// errPrivateDial is the dial-time refusal: the address actually being connected to is denied.
var errPrivateDial = errors.New("callback: refused to connect to a private or reserved address")

// MaxURLLength is the longest callback URL accepted, in bytes.
const MaxURLLength = 2048

// resolveTimeout bounds the name lookup CheckURL does.
const resolveTimeout = 3 * time.Second

// Resolver looks up the addresses of a host name. *net.Resolver satisfies it; tests pass a
// stub.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard checks callback URLs against server-side request forgery. The zero value denies
// private targets and resolves names with net.DefaultResolver.
type Guard struct {
	// AllowPrivate turns the address checks off (syntax checks still apply).
	AllowPrivate bool
	// Resolver resolves host names. Nil: net.DefaultResolver.
	Resolver Resolver
}

// CheckURL vets one callback URL at mint time: an http(s) URL whose host is not, and does not
// resolve to, a private or reserved address (unless AllowPrivate). The lookup is bounded by
// resolveTimeout.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	return g.CheckURLs(ctx, []string{raw})[0]
}

// resolveParallel bounds the name lookups CheckURLs runs at once.
const resolveParallel = 64

// CheckURLs vets many callback URLs as CheckURL does, one error (or nil) per URL, looking
// each distinct host up once and the hosts concurrently, all within one resolveTimeout: a
// batch of a thousand tokens with unresolvable hosts answers in seconds, not minutes.
func (g *Guard) CheckURLs(ctx context.Context, raws []string) []error {
	errs := make([]error, len(raws))
	hosts := map[string][]int{} // host name to look up → the URLs that need it
	for i, raw := range raws {
		u, err := parseTarget(raw)
		if err != nil {
			errs[i] = err
			continue
		}
		if g.AllowPrivate {
			continue
		}
		host := u.Hostname()
		if ip, ok, err := literalIP(host); err != nil {
			errs[i] = err
		} else if ok {
			if Denied(ip) {
				errs[i] = targetError("host is a private or reserved address")
			}
		} else {
			hosts[host] = append(hosts[host], i)
		}
	}
	if len(hosts) == 0 {
		return errs
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	var mu sync.Mutex
	var eg errgroup.Group
	eg.SetLimit(resolveParallel)
	for host, users := range hosts {
		eg.Go(func() error {
			err := checkResolved(ctx, r, host)
			mu.Lock()
			for _, i := range users {
				errs[i] = err
			}
			mu.Unlock()
			return nil
		})
	}
	_ = eg.Wait()
	return errs
}

// checkResolved looks host up and refuses it when it does not resolve (in time) or resolves
// to a private or reserved address.
func checkResolved(ctx context.Context, r Resolver, host string) error {
	if ctx.Err() != nil {
		return targetError("host does not resolve")
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return targetError("host does not resolve")
	}
	for _, ip := range ips {
		if Denied(ip) {
			return targetError("host resolves to a private or reserved address")
		}
	}
	return nil
}

// parseTarget does the checks that need no network: length, characters, scheme, host, port,
// userinfo. Enqueue runs it on every event; CheckURL runs it first.
func parseTarget(raw string) (*url.URL, error) {
	if len(raw) > MaxURLLength {
		return nil, targetError("URL is longer than " + strconv.Itoa(MaxURLLength) + " bytes")
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c < 0x20 || c == 0x7f || c == ' ' {
			return nil, targetError("URL contains spaces or control characters")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, targetError("URL is not valid")
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return nil, targetError("URL scheme must be http or https")
	}
	if u.Opaque != "" {
		return nil, targetError("URL is not valid")
	}
	if u.User != nil {
		return nil, targetError("URL must not contain user credentials")
	}
	if u.Hostname() == "" {
		return nil, targetError("URL has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, targetError("URL port is not valid")
		}
	}
	if strings.HasPrefix(u.Host, "[") {
		if _, err := netip.ParseAddr(u.Hostname()); err != nil || strings.Contains(u.Hostname(), "%") {
			return nil, targetError("URL has an invalid IPv6 address")
		}
	}
	return u, nil
}

// literalIP reports whether host is an IP address rather than a name: an IPv6 literal, or an
// IPv4 address in any WHATWG form. A host that looks numeric but is not a valid address is an
// error, as it is in a browser.
func literalIP(host string) (netip.Addr, bool, error) {
	if strings.Contains(host, ":") {
		ip, err := netip.ParseAddr(host)
		if err != nil || ip.Zone() != "" {
			return netip.Addr{}, false, targetError("URL has an invalid IPv6 address")
		}
		return ip, true, nil
	}
	return parseIPv4Host(host)
}

// parseIPv4Host implements the WHATWG URL standard's IPv4 parser. It reports ok=false when the
// host is a domain name (its last label is not a number); for a host that ends in a number it
// returns the address, or an error when the numbers are not a valid address.
func parseIPv4Host(host string) (netip.Addr, bool, error) {
	parts := strings.Split(host, ".")
	if len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	if !endsInNumber(parts[len(parts)-1]) {
		return netip.Addr{}, false, nil
	}
	bad := targetError("URL has an invalid IPv4 address")
	if len(parts) > 4 {
		return netip.Addr{}, true, bad
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		n, ok := parseIPv4Number(p)
		if !ok {
			return netip.Addr{}, true, bad
		}
		nums[i] = n
	}
	for _, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, true, bad
		}
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, true, bad
	}
	v := last
	for i, n := range nums[:len(nums)-1] {
		v += n << (8 * (3 - i))
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true, nil
}

// endsInNumber is WHATWG's "ends in a number" test on the last label.
func endsInNumber(last string) bool {
	if last == "" {
		return false
	}
	if isDigits(last, 10) {
		return true
	}
	if len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') {
		return isDigits(last[2:], 16)
	}
	return false
}

// parseIPv4Number parses one WHATWG IPv4 part: 0x-prefixed hex (the empty "0x" is 0), a
// leading 0 for octal, decimal otherwise.
func parseIPv4Number(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		base, s = 16, s[2:]
		if s == "" {
			return 0, true
		}
	case len(s) >= 2 && s[0] == '0':
		base, s = 8, s[1:]
	}
	if !isDigits(s, base) {
		return 0, false
	}
	// Leading zeros never change the value; strip them so long zero runs do not overflow.
	s = strings.TrimLeft(s, "0")
	if s == "" {
		return 0, true
	}
	if len(s) > 12 { // larger than any valid part in any base
		return 1 << 40, true
	}
	n, err := strconv.ParseUint(s, base, 64)
	return n, err == nil
}

func isDigits(s string, base int) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '7':
		case c >= '8' && c <= '9':
			if base == 8 {
				return false
			}
		case base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
		default:
			return false
		}
	}
	return true
}

// deniedV4 are the IPv4 ranges no callback may reach.
var deniedV4 = prefixes(
	"0.0.0.0/8",       // "this network", unspecified
	"10.0.0.0/8",      // RFC 1918
	"100.64.0.0/10",   // CGNAT (RFC 6598); also Alibaba's metadata 100.100.100.200
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, cloud metadata 169.254.169.254
	"172.16.0.0/12",   // RFC 1918
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // TEST-NET-1
	"192.88.99.0/24",  // 6to4 relay anycast (deprecated)
	"192.168.0.0/16",  // RFC 1918
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // TEST-NET-2
	"203.0.113.0/24",  // TEST-NET-3
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, including broadcast 255.255.255.255
)

// deniedV6 are the IPv6 ranges no callback may reach inside global unicast 2000::/3 (everything
// outside 2000::/3 is denied: loopback, unspecified, IPv4-compatible, NAT64 64:ff9b::/96 and
// 64:ff9b:1::/48, discard 100::/64, unique-local fc00::/7, link-local fe80::/10, site-local,
// multicast ff00::/8).
var deniedV6 = prefixes(
	"2001::/23",     // IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID
	"2001:db8::/32", // documentation
	"3fff::/20",     // documentation (RFC 9637)
)

var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	sixToFour      = netip.MustParsePrefix("2002::/16")
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Denied reports whether a callback may not connect to ip: loopback, private (RFC 1918),
// CGNAT, link-local (with cloud metadata addresses), unique-local, multicast, unspecified,
// broadcast, reserved, benchmarking and documentation ranges, IPv6 outside global unicast
// (which covers NAT64 prefixes), Teredo, and 6to4 addresses that embed a denied IPv4 address.
// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry. The invalid Addr is
// denied.
func Denied(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		for _, p := range deniedV4 {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	if !globalUnicast6.Contains(ip) {
		return true
	}
	for _, p := range deniedV6 {
		if p.Contains(ip) {
			return true
		}
	}
	if sixToFour.Contains(ip) {
		b := ip.As16()
		return Denied(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	}
	return false
}

// dialRefused is the dial-time refusal: an address on the Denied list, unless private targets
// are allowed. (A variable: the SSRF tests, whose receivers all live on 127.0.0.1, treat one
// port as public.)
var dialRefused = func(ap netip.AddrPort, allowPrivate bool) bool { return !allowPrivate && Denied(ap.Addr()) }

// dialControl is the net.Dialer.Control that refuses denied addresses: it sees the address
// the socket is about to connect to, after every name resolution.
func dialControl(denied func(netip.AddrPort) bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if network != "tcp4" && network != "tcp6" {
			return errPrivateDial
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil || denied(ap) {
			return errPrivateDial
		}
		return nil
	}
}
