// Package proxy serves /object/{token}: it checks the token and reserves its hit in the
// token store, then streams one object between the client and the bucket alias the token
// names, through an objstore.Backend, and queues the token's webhook.
//
// Invariants: nothing reaches the object store without a reserved hit; a hit is handed back
// when nothing was delivered (the store failed, the object is missing, a precondition or a
// range refused it, an upload did not complete); once a response's status is out, a failure
// cuts the connection rather than send a clean end.
package proxy
