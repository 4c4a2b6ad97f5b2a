package docsui_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"strings"
	"testing"

	"github.com/ordergate/ordergate/adapters/httpapi/docsui"
)

// TestVendoredFilesArePinned checks, without network, that every vendored
// file is byte for byte the one `make docs-ui` took from the pinned npm
// tarball: an edit of the bundle, or a file swapped in by hand, fails here.
func TestVendoredFilesArePinned(t *testing.T) {
	sums, err := fs.ReadFile(docsui.FS, "SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q is not sha256sum's format", line)
		}
		want[name] = sum
	}
	if _, ok := want[docsui.Script]; !ok {
		t.Fatalf("SHA256SUMS does not list %s", docsui.Script)
	}
	entries, err := fs.ReadDir(docsui.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "SHA256SUMS" {
			continue
		}
		b, err := fs.ReadFile(docsui.FS, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		d := sha256.Sum256(b)
		if got := hex.EncodeToString(d[:]); got != want[e.Name()] {
			t.Errorf("%s has SHA-256 %s; SHA256SUMS says %q: run make docs-ui", e.Name(), got, want[e.Name()])
		}
		delete(want, e.Name())
	}
	for name := range want {
		t.Errorf("SHA256SUMS lists %s, which is not embedded", name)
	}
}
