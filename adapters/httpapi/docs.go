package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"path"
	"time"

	"github.com/ordergate/ordergate/adapters/httpapi/docsui"
)

// The /docs page is Stoplight Elements (see package docsui), served from
// the binary: the page loads the renderer from /docs/assets/ and the
// document from /openapi.json, and nothing from anywhere else, so /docs
// works on a machine without internet access.

// docsCSP allows the page only this server. Elements sets inline styles
// (the browser test fails without 'unsafe-inline'), and the page's empty
// icon is a data: URL, which spares the browser a request for /favicon.ico.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// docsAsset is one file served under /docs/assets/: its name in
// docsui.FS, read from the binary at each request rather than copied to
// the heap (the script alone is 2 MB).
type docsAsset struct {
	name        string
	contentType string
}

// registerDocs serves the docs page at /docs and its assets at
// /docs/assets/{digest}/{name}. The digest is the first 12 hex digits of the
// file's SHA-256, so an asset's URL changes with its content and browsers
// may keep it for a year.
func registerDocs(mux *http.ServeMux, title string) {
	assets := map[string]docsAsset{}
	urls := map[string]string{}
	for _, name := range []string{docsui.Script, docsui.Stylesheet, docsui.Script + ".LICENSE.txt", "LICENSE"} {
		d, err := digest(name)
		if err != nil {
			panic(fmt.Sprintf("docs: the embedded renderer lacks %s: %v", name, err)) // go:embed lists it: unreachable
		}
		url := "/docs/assets/" + hex.EncodeToString(d[:6]) + "/" + name
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "text/plain; charset=utf-8"
		}
		assets[url] = docsAsset{name: name, contentType: ct}
		urls[name] = url
	}
	// The attributes are Huma's own for Elements, but for the document's
	// URL: the page and the document come from the same server.
	page := []byte(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>` + html.EscapeString(title) + `</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="` + urls[docsui.Stylesheet] + `">
<script src="` + urls[docsui.Script] + `"></script>
</head><body style="height:100vh">
<noscript>This page needs JavaScript. The document itself: <a href="/openapi.yaml">openapi.yaml</a>, <a href="/openapi.json">openapi.json</a>.</noscript>
<elements-api apiDescriptionUrl="/openapi.json" router="hash" layout="sidebar" tryItCredentialsPolicy="same-origin"></elements-api>
</body></html>
`)
	mux.HandleFunc("GET /docs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", docsCSP)
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(page)
	})
	mux.HandleFunc("GET /docs/assets/{digest}/{name}", func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		f, err := docsui.FS.Open(a.name)
		if err != nil {
			http.NotFound(w, r) // go:embed lists it: unreachable
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", a.contentType)
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		// Embedded files seek: ranges and conditional requests come free.
		http.ServeContent(w, r, a.name, time.Time{}, f.(io.ReadSeeker))
	})
}

// digest returns the SHA-256 of the embedded file name.
func digest(name string) ([]byte, error) {
	f, err := docsui.FS.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
