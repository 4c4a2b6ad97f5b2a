package httpapi_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// browserEnv, set to 1, makes the browser tests fail where no Chromium is
// found instead of skipping: .ci/run sets it after installing Chromium.
const browserEnv = "ORDERGATE_TEST_BROWSER"

// chromium returns the path of a Chromium or Chrome binary; without one the
// test skips, or fails when browserEnv asks for the browser tests.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(browserEnv) == "1" {
		t.Fatalf("%s=1 but no chromium, chromium-browser or google-chrome on PATH", browserEnv)
	}
	t.Skipf("no Chromium on PATH (set %s=1 to make this a failure)", browserEnv)
	return ""
}

// docOp is one operation of the OpenAPI document, as the page must show it.
type docOp struct {
	ID      string `json:"id"`
	Method  string `json:"method"`
	Path    string `json:"path"`
	Summary string `json:"summary"`
	// Secured is whether the operation needs an API key, which the page
	// must say.
	Secured bool `json:"secured"`
}

// documentOps reads every operation from the document the server serves.
func documentOps(t *testing.T, base string) []docOp {
	t.Helper()
	resp, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string                `json:"operationId"`
			Summary     string                `json:"summary"`
			Security    []map[string][]string `json:"security"`
		} `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	var ops []docOp
	for path, item := range doc.Paths {
		for method, op := range item {
			ops = append(ops, docOp{ID: op.OperationID, Method: method, Path: path, Summary: op.Summary, Secured: len(op.Security) > 0})
		}
	}
	slices.SortFunc(ops, func(a, b docOp) int { return strings.Compare(a.ID, b.ID) })
	if len(ops) < 10 {
		t.Fatalf("the document has %d operations; want the whole API", len(ops))
	}
	return ops
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// isLoopback reports whether raw names this machine (or is a data: or
// blob: URL, which never leave the browser).
func isLoopback(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "data", "blob":
		return true
	case "http", "https", "ws", "wss":
	default:
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// opProblemJS returns what is wrong with the page Elements rendered for op,
// or "" when it shows the operation as the document has it: a side-menu
// entry, the summary as the heading, the method and the path, and the
// bearer scheme exactly when the operation needs a key.
const opProblemJS = `function(op) {
  if (!document.querySelector('a[href="#/operations/' + op.id + '"]')) return "no side-menu entry";
  const h1 = document.querySelector('h1');
  if (!h1 || h1.textContent !== op.summary) return "heading " + (h1 && h1.textContent);
  const url = [...document.querySelectorAll('[title]')].find(e => e.title.endsWith(op.path));
  if (!url) return "no element titled with the path";
  if (!url.textContent.toLowerCase().startsWith(op.method)) return "method " + url.textContent;
  const sec = document.querySelector('[data-test="http-operation-security-row"]');
  if (op.secured !== !!(sec && /Bearer/.test(sec.textContent))) return "security row " + (sec && sec.textContent);
  return "";
}`

// TestDocsRenderEveryOperationOffline loads /docs in headless Chromium with
// every request to a host other than this machine blocked, and checks that
// Stoplight Elements rendered every operation of the document and that the
// page asked for nothing outside the server: no font, CDN or telemetry.
func TestDocsRenderEveryOperationOffline(t *testing.T) {
	exe := chromium(t)
	srv := httptest.NewServer(newServer(t, memOrders()).h)
	t.Cleanup(srv.Close)
	ops := documentOps(t, srv.URL)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // Chromium's sandbox refuses to run as root, as CI does
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline of its own
		t.Fatalf("starting %s: %v", exe, err)
	}

	var (
		mu       sync.Mutex
		outside  []string // requests to another host, blocked
		requests []string // every URL the page asked for
		console  []string // errors the page logged, CSP violations among them
	)
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	sent := chromedp.Events(ctx, network.RequestWillBeSent)
	messages := chromedp.Console(ctx)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			if isLoopback(ev.Request.URL) {
				_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				continue
			}
			mu.Lock()
			outside = append(outside, ev.Request.URL)
			mu.Unlock()
			_, _ = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
		}
	}()
	go func() {
		for ev, err := range sent {
			if err != nil {
				return
			}
			mu.Lock()
			requests = append(requests, ev.Request.URL)
			mu.Unlock()
		}
	}()
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				console = append(console, m.String()+" ("+m.URL+")")
				mu.Unlock()
			}
		}
	}()

	runCtx, cancelRun := context.WithTimeout(ctx, 90*time.Second)
	defer cancelRun()
	if _, err := chromedp.Call(runCtx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(runCtx, fetch.Enable, fetch.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(runCtx, chromedp.Navigate(srv.URL+"/docs")); err != nil {
		t.Fatalf("loading /docs: %v", err)
	}
	// Elements renders one operation at a time, at its own address: visit
	// each, as a reader following the side menu does.
	for _, op := range ops {
		if _, err := chromedp.Run(runCtx, chromedp.Evaluate[string](`location.hash = "#/operations/`+op.ID+`"`)); err != nil {
			t.Fatal(err)
		}
		pollCtx, cancelPoll := context.WithTimeout(runCtx, 20*time.Second)
		_, err := chromedp.Run(pollCtx, chromedp.PollFunction[bool](`(op) => (`+opProblemJS+`)(op) === ""`,
			chromedp.WithPollingArgs(op), chromedp.WithPollingTimeout(0)))
		cancelPoll()
		if err != nil {
			problem, _ := chromedp.Run(runCtx, chromedp.Evaluate[string](`(`+opProblemJS+`)(`+mustJSON(t, op)+`)`))
			t.Errorf("/docs#/operations/%s does not show %s %s %q: %s (%v)", op.ID, op.Method, op.Path, op.Summary, problem, err)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	if len(outside) > 0 {
		t.Errorf("/docs asked for %d URLs outside the server: %v", len(outside), outside)
	}
	for _, u := range requests {
		if !isLoopback(u) {
			t.Errorf("/docs sent a request to %s", u)
		}
	}
	if !slices.ContainsFunc(requests, func(u string) bool { return strings.HasSuffix(u, "/openapi.json") }) {
		t.Errorf("/docs did not load /openapi.json; it asked for %v", requests)
	}
	if len(console) > 0 {
		t.Errorf("/docs logged errors (a Content-Security-Policy violation is one): %v", console)
	}
}
