package proxy

import "net/http"

// The token rules /object applies that other upload paths (tus) apply the same way.

// IPAllowed reports whether ip is in one of the CIDRs a token is bound to.
func IPAllowed(ip string, cidrs []string) bool { return ipAllowed(ip, cidrs) }

// MediaAllowed reports whether a media type (parameters aside) is one of a token's allowed
// types or ranges ("image/*").
func MediaAllowed(contentType string, allowed []string) bool {
	return mediaAllowed(contentType, allowed)
}

// PeerIP is a request's TCP peer address.
func PeerIP(r *http.Request) string { return peerIP(r.RemoteAddr) }
