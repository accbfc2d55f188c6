//go:build unix && !aix

package edge

import (
	"net"
	"syscall"
)

// drain reads, without waiting, what a refused client already sent. Closing a socket with
// unread data sends a reset, which may discard the answer just written; with the data read,
// closing sends a FIN after the answer.
func drain(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	var buf [4096]byte
	_ = raw.Read(func(fd uintptr) bool {
		for range 16 { // at most 64 KiB: the request headers' cap
			n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_DONTWAIT)
			if err != nil || n <= 0 {
				break
			}
		}
		return true // done: never wait for more
	})
}
