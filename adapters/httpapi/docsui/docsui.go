// Package docsui holds the renderer of the /docs page: Stoplight Elements'
// web component (Huma's own default), vendored by `make docs-ui` from the
// npm package at the version the Makefile pins (checked against npm's sha512
// integrity) and embedded in the binary, so /docs needs no internet and
// `go build` needs no npm.
package docsui

import "embed"

// FS holds the vendored files: the web component's script and stylesheet,
// their licence notices, and SHA256SUMS, the digests `make docs-ui`
// recorded for them.
//
//go:embed web-components.min.js web-components.min.js.LICENSE.txt styles.min.css LICENSE SHA256SUMS
var FS embed.FS

// The names in FS of the files the page loads.
const (
	// Script defines the <elements-api> element.
	Script = "web-components.min.js"
	// Stylesheet styles it.
	Stylesheet = "styles.min.css"
)
