//go:build !unix || aix

package edge

import "net"

// drain does nothing here: a refused connection may see a reset instead of its 503.
func drain(net.Conn) {}
