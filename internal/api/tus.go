package api

import (
	"net/http"

	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/tus"
)

// What the API adds around internal/tus: the tus_url of minted PUT tokens and the CORS side
// of tus's OPTIONS.

// tusURL is a PUT token's tus creation URL, when tus is served; "" otherwise.
func (a *API) tusURL(tok string, rec token.Record) string {
	if a.tus == nil || rec.Method != token.MethodPut {
		return ""
	}
	return a.host + "/tus/" + tok
}

// tusOptions answers OPTIONS /tus/…: a CORS preflight when an allowed origin asks (the tus
// request headers allowed), and tus's capabilities (internal/tus).
func (a *API) tusOptions(w http.ResponseWriter, r *http.Request) error {
	hdr := w.Header()
	if r.Header.Get("Access-Control-Request-Method") != "" && a.cors.allow(w, r) {
		hdr.Del("Access-Control-Expose-Headers") // meaningless on a preflight
		hdr.Set("Access-Control-Allow-Methods", tus.Methods)
		hdr.Set("Access-Control-Allow-Headers", tus.RequestHeaders)
		if a.cors.maxAge != "" {
			hdr.Set("Access-Control-Max-Age", a.cors.maxAge)
		}
	}
	return a.tus.Options(w, r)
}
