// Package edge keeps the gateway safe where clients meet it: clients that send slowly, read
// slowly or open too many connections, and TLS with a certificate that can be replaced while
// serving.
//
// Invariants:
//   - Timeouts are on idleness, refreshed on progress: a request body or a response that keeps
//     moving is never cut, however long it takes in total. A body must also keep up a minimum
//     rate, averaged over each idle window of waiting for it.
//   - A body cut by the gateway reads as ErrBodyTimeout (the API answers 408
//     request_timeout), and an HTTP/1 connection is closed after the answer.
//   - Nothing here wraps a net.Conn, and Handler's ResponseWriter hands io.LimitedReader
//     slices of the caller's reader to the server's ReadFrom, so net/http still splices (or
//     sends with sendfile) object bodies: see TestReadFromKeepsTheSource and
//     e2e TestZeroCopyKept.
//   - Connection caps never make Accept wait: a connection over a cap is refused at once.
//     Each admitted connection is counted until net/http reports it closed or hijacked
//     (Listener.ConnState), exactly once.
package edge
