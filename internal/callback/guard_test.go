package callback

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestDenied(t *testing.T) {
	tests := []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"10.1.2.3", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"192.168.1.1", true},
		{"100.64.0.1", true},
		{"100.100.100.200", true}, // Alibaba Cloud metadata, CGNAT range
		{"100.127.255.255", true},
		{"169.254.169.254", true},
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"192.0.0.8", true},
		{"192.0.2.1", true},
		{"198.18.0.1", true},
		{"198.19.255.255", true},
		{"198.51.100.7", true},
		{"203.0.113.9", true},
		{"224.0.0.1", true},
		{"239.255.255.250", true},
		{"240.0.0.1", true},
		{"255.255.255.255", true},
		{"::", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"::ffff:10.0.0.1", true},
		{"::ffff:169.254.169.254", true},
		{"::127.0.0.1", true}, // IPv4-compatible (deprecated)
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		{"fc00::1", true},
		{"fd00:ec2::254", true}, // AWS IMDS over IPv6
		{"ff02::1", true},
		{"64:ff9b::a00:1", true},   // NAT64 of 10.0.0.1
		{"64:ff9b::808:808", true}, // NAT64 of a public address: the whole prefix is denied
		{"64:ff9b:1::a00:1", true}, // local-use NAT64
		{"100::1", true},           // discard-only
		{"2001::1", true},          // Teredo
		{"2001:db8::1", true},      // documentation
		{"3fff::1", true},          // documentation
		{"2002:7f00:1::1", true},   // 6to4 of 127.0.0.1
		{"2002:a00:1::1", true},    // 6to4 of 10.0.0.1
		{"2002:808:808::1", false}, // 6to4 of 8.8.8.8
		{"8.8.8.8", false},         // public
		{"1.1.1.1", false},         // public
		{"100.63.255.255", false},  // just below CGNAT
		{"100.128.0.0", false},     // just above CGNAT
		{"172.32.0.1", false},      // just above 172.16/12
		{"::ffff:8.8.8.8", false},  // mapped public
		{"2606:4700:4700::1111", false},
		{"2a00:1450:4001:80b::200e", false},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			if got := Denied(netip.MustParseAddr(tc.ip)); got != tc.want {
				t.Fatalf("Denied(%s): got %v, want %v", tc.ip, got, tc.want)
			}
		})
	}
	if !Denied(netip.Addr{}) {
		t.Error("Denied(invalid): got false, want true")
	}
}

func TestParseIPv4HostLikeBrowsers(t *testing.T) {
	tests := []struct {
		host    string
		want    string // "" with isIP: an invalid address
		isIP    bool
		wantErr bool
	}{
		{"127.0.0.1", "127.0.0.1", true, false},
		{"127.1", "127.0.0.1", true, false},
		{"127.0.1", "127.0.0.1", true, false},
		{"2130706433", "127.0.0.1", true, false},
		{"0x7f000001", "127.0.0.1", true, false},
		{"0X7F.1", "127.0.0.1", true, false},
		{"0177.0.0.1", "127.0.0.1", true, false},
		{"0177.1", "127.0.0.1", true, false},
		{"017700000001", "127.0.0.1", true, false},
		{"0x", "0.0.0.0", true, false},
		{"10.0.0.1.", "10.0.0.1", true, false},
		{"0xa9.0xfe.0xa9.0xfe", "169.254.169.254", true, false},
		{"1.2.3.256", "", true, true},
		{"4294967296", "", true, true},
		{"1.2.3.4.5", "", true, true},
		{"08.0.0.1", "", true, true},
		{"1..1", "", true, true},
		{"0x1g", "", false, false}, // does not end in a number: a domain
		{"example.com", "", false, false},
		{"127.0.0.1.example.com", "", false, false},
		{"1.2.3.4a", "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			ip, isIP, err := parseIPv4Host(tc.host)
			if isIP != tc.isIP || (err != nil) != tc.wantErr {
				t.Fatalf("parseIPv4Host(%q): got isIP=%v err=%v, want isIP=%v err=%v", tc.host, isIP, err, tc.isIP, tc.wantErr)
			}
			if tc.want != "" && ip != netip.MustParseAddr(tc.want) {
				t.Fatalf("parseIPv4Host(%q): got %s, want %s", tc.host, ip, tc.want)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	res := newStubResolver()
	res.set("public.example", "93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
	res.set("mixed.example", "93.184.215.14", "10.0.0.7") // one private answer is enough to refuse
	res.set("localhost", "127.0.0.1", "::1")
	res.set("metadata.example", "169.254.169.254")
	res.set("v6private.example", "fd00::1")
	res.set("rebind.example", "93.184.215.14")

	tests := []struct {
		name    string
		url     string
		guard   Guard
		wantErr string // substring; "" means accepted
	}{
		{"public name", "https://public.example/hook?x=1", Guard{Resolver: res}, ""},
		{"public IPv4", "http://8.8.8.8:8080/hook", Guard{Resolver: res}, ""},
		{"public IPv6", "http://[2606:4700:4700::1111]/", Guard{Resolver: res}, ""},
		{"short IPv4 127.1", "http://127.1/", Guard{Resolver: res}, "private"},
		{"decimal IPv4", "http://2130706433/", Guard{Resolver: res}, "private"},
		{"hex IPv4", "http://0x7f000001/", Guard{Resolver: res}, "private"},
		{"octal IPv4", "http://0177.0.0.1/", Guard{Resolver: res}, "private"},
		{"mapped IPv6 loopback", "http://[::ffff:127.0.0.1]/", Guard{Resolver: res}, "private"},
		{"cloud metadata", "http://169.254.169.254/latest/meta-data/", Guard{Resolver: res}, "private"},
		{"alibaba metadata CGNAT", "http://100.100.100.200/", Guard{Resolver: res}, "private"},
		{"aws IMDS IPv6", "http://[fd00:ec2::254]/", Guard{Resolver: res}, "private"},
		{"NAT64 private", "http://[64:ff9b::a00:1]/", Guard{Resolver: res}, "private"},
		{"IPv6 zone", "http://[fe80::1%25eth0]/", Guard{Resolver: res}, "IPv6"},
		{"userinfo", "http://u@127.0.0.1/", Guard{Resolver: res}, "credentials"},
		{"userinfo with password", "https://u:p@public.example/", Guard{Resolver: res}, "credentials"},
		{"localhost via stub", "http://localhost/", Guard{Resolver: res}, "private"},
		{"name resolving to metadata", "http://metadata.example/", Guard{Resolver: res}, "private"},
		{"name resolving to ULA", "http://v6private.example/", Guard{Resolver: res}, "private"},
		{"one private answer among public", "http://mixed.example/", Guard{Resolver: res}, "private"},
		{"unresolvable", "http://nowhere.example/", Guard{Resolver: res}, "does not resolve"},
		{"invalid numeric host", "http://1.2.3.256/", Guard{Resolver: res}, "invalid IPv4"},
		{"ftp scheme", "ftp://public.example/", Guard{Resolver: res}, "scheme"},
		{"javascript scheme", "javascript:alert(1)", Guard{Resolver: res}, "scheme"},
		{"relative", "/hook", Guard{Resolver: res}, "scheme"},
		{"no host", "http:///hook", Guard{Resolver: res}, "no host"},
		{"opaque", "http:public.example", Guard{Resolver: res}, "not valid"},
		{"bad port", "http://public.example:99999/", Guard{Resolver: res}, "port"},
		{"control char", "http://public.example/\x00", Guard{Resolver: res}, "control"},
		{"newline", "http://public.example/\r\nX-Evil: 1", Guard{Resolver: res}, "control"},
		{"too long", "https://public.example/" + strings.Repeat("a", MaxURLLength), Guard{Resolver: res}, "longer"},
		{"private allowed", "http://127.0.0.1:8080/", Guard{AllowPrivate: true}, ""},
		{"userinfo even when private allowed", "http://u@127.0.0.1/", Guard{AllowPrivate: true}, "credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.guard.CheckURL(context.Background(), tc.url)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("CheckURL(%q): got %v, want nil", tc.url, err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("CheckURL(%q): got nil, want an error containing %q", tc.url, tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("CheckURL(%q): got %q, want it to contain %q", tc.url, err, tc.wantErr)
			case err != nil && !errors.Is(err, ErrBadTarget):
				t.Fatalf("CheckURL(%q): got %v, want it to wrap ErrBadTarget", tc.url, err)
			case err != nil && strings.Contains(err.Error(), tc.url):
				t.Fatalf("CheckURL(%q): error %q repeats the URL", tc.url, err)
			}
		})
	}
}

// localhost through the real resolver (the hosts file) is refused too.
func TestCheckURLLocalhostRealResolver(t *testing.T) {
	var g Guard
	err := g.CheckURL(context.Background(), "http://localhost/")
	if err == nil {
		t.Fatal("CheckURL(http://localhost/): got nil, want a refusal")
	}
	if !errors.Is(err, ErrBadTarget) {
		t.Fatalf("got %v, want ErrBadTarget", err)
	}
}
