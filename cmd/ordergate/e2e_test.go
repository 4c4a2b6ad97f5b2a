package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordergate/ordergate/cmd/internal/proc"
	"github.com/ordergate/ordergate/domain"
)

// buildDir holds the binaries the end-to-end tests build once per run.
var buildDir = sync.OnceValues(func() (string, error) { return os.MkdirTemp("", "ordergate-e2e-") })

func build(name, pkg string) (string, error) {
	dir, err := buildDir()
	if err != nil {
		return "", err
	}
	return proc.Build(dir, name, pkg)
}

// buildBinary compiles ordergate once per test binary run.
var buildBinary = sync.OnceValues(func() (string, error) { return build("ordergate", ".") })

// buildSim compiles exchange-sim once per test binary run.
var buildSim = sync.OnceValues(func() (string, error) { return build("exchange-sim", "../exchange-sim") })

// process is a running ordergate or exchange-sim binary whose JSON log
// records and stdout lines the test keeps, and prints if it fails.
type process struct {
	*proc.Process
	t    *testing.T
	addr string
	// key is the API key of the process's database that order requests
	// send; "" for exchange-sim, and for an ordergate started fresh until
	// the test picks one.
	key string

	mu     sync.Mutex
	logs   []map[string]any
	stderr []string // the raw lines logs were parsed from
	stdout []string
}

// start runs ordergate with args, which must name the database with --db,
// and waits until it serves /healthz. Order requests through the process
// send the API key keyFor made for that database before the start, so the
// start finds a key and creates none of its own.
func start(t *testing.T, args ...string) *process {
	t.Helper()
	skipShort(t)
	key := keyFor(t, dbArg(t, args))
	return startBinary(t, buildBinary, key, args...)
}

// startFresh runs ordergate with args as start does, but creates no key
// first: on a database that never had one, the process creates the first
// key itself and prints it on stdout. The process has no key to send until
// the test sets p.key.
func startFresh(t *testing.T, args ...string) *process {
	t.Helper()
	skipShort(t)
	dbArg(t, args)
	return startBinary(t, buildBinary, "", args...)
}

// startSim runs exchange-sim with args and waits until it serves /healthz.
func startSim(t *testing.T, args ...string) *process {
	t.Helper()
	return startBinary(t, buildSim, "", args...)
}

// startBinary runs a binary, with key as the API key of its requests, and
// waits until it serves /healthz.
func startBinary(t *testing.T, build func() (string, error), key string, args ...string) *process {
	t.Helper()
	skipShort(t)
	p, err := launch(t, build, key, args...)
	if err != nil {
		t.Fatal(err)
	}
	p.waitHealthy(t)
	return p
}

// launch runs a binary and returns once it logs that it listens. It never
// fails t, so that tests may launch several at once from goroutines; the
// process is killed when t ends.
func launch(t *testing.T, build func() (string, error), key string, args ...string) (*process, error) {
	bin, err := build()
	if err != nil {
		return nil, err
	}
	p := &process{t: t, key: key}
	p.Process, err = proc.Start(bin, args, proc.Options{
		Env:  []string{"ORDERGATE_LOG_LEVEL=info"},
		Wait: 30 * time.Second,
		Log: func(line []byte) {
			var rec map[string]any
			if json.Unmarshal(line, &rec) != nil {
				rec = map[string]any{"msg": "unparsed", "line": string(line)}
			}
			p.mu.Lock()
			p.logs = append(p.logs, rec)
			p.stderr = append(p.stderr, string(line))
			p.mu.Unlock()
		},
		Stdout: func(line []byte) {
			p.mu.Lock()
			p.stdout = append(p.stdout, string(line))
			p.mu.Unlock()
		},
	})
	if err != nil {
		return nil, err
	}
	p.addr = p.Addr()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			p.dumpLogs()
		}
	})
	return p, nil
}

// waitHealthy waits until the process answers /healthz with 200.
func (p *process) waitHealthy(t *testing.T) {
	t.Helper()
	waitUntil(t, 10*time.Second, "/healthz to answer 200", func() bool {
		resp, err := http.Get(p.url("/healthz"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test builds and starts binaries; skipped with -short")
	}
}

func (p *process) url(path string) string { return "http://" + p.addr + path }

func (p *process) dumpLogs() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rec := range p.logs {
		b, _ := json.Marshal(rec)
		p.t.Log(string(b))
	}
	for _, line := range p.stdout {
		p.t.Log("stdout: " + line)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop() {
	p.t.Helper()
	if err := p.Stop(60 * time.Second); err != nil {
		p.t.Fatal(err)
	}
}

// kill sends SIGKILL, as a crash would, and waits for the process to end.
func (p *process) kill() { p.Kill() }

// logRecord returns the last log record with the given message.
func (p *process) logRecord(msg string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.logs) - 1; i >= 0; i-- {
		if p.logs[i]["msg"] == msg {
			return p.logs[i]
		}
	}
	return nil
}

// output returns the lines the process wrote to stdout and to stderr so
// far; all of them once it is Done.
func (p *process) output() (stdout, stderr []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.stdout), slices.Clone(p.stderr)
}

// target is where order requests go: an instance's base URL and the API
// key to send there.
type target struct {
	base string // http://host:port
	key  string // sent as "Authorization: Bearer <key>"; "" sends none
}

// target returns the process's base URL with its key.
func (p *process) target() target { return target{base: p.url(""), key: p.key} }

// as returns the process's base URL with another key ("" for none).
func (p *process) as(key string) target { return target{base: p.url(""), key: key} }

// send sends a request for path with tg's key. header is name, value
// pairs, set after the key (so an Authorization pair replaces it); a body
// is sent as application/json unless header names another Content-Type.
func (tg target) send(client *http.Client, method, path string, body io.Reader, header ...string) (*http.Response, error) {
	req, err := http.NewRequest(method, tg.base+path, body)
	if err != nil {
		return nil, err
	}
	if tg.key != "" {
		req.Header.Set("Authorization", "Bearer "+tg.key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if len(header)%2 != 0 {
		return nil, fmt.Errorf("header %q: want name, value pairs", header)
	}
	for i := 0; i < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return client.Do(req)
}

// do is send with http.DefaultClient; an error fails t, which must be
// the test of the calling goroutine.
func (tg target) do(t testing.TB, method, path string, body io.Reader, header ...string) *http.Response {
	t.Helper()
	resp, err := tg.send(http.DefaultClient, method, path, body, header...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// do sends a request for path with the process's key, as target.do.
func (p *process) do(t testing.TB, method, path string, body io.Reader, header ...string) *http.Response {
	t.Helper()
	return p.target().do(t, method, path, body, header...)
}

// dbArg returns the value of the last --db in args (the flag package's
// last one wins), failing the test if there is none: every ordergate a
// test starts names its database, so that its key can be made for it.
func dbArg(t *testing.T, args []string) string {
	t.Helper()
	db := ""
	for i, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "db" {
			continue
		}
		switch {
		case hasValue:
			db = value
		case i+1 < len(args):
			db = args[i+1]
		}
	}
	if db == "" {
		t.Fatalf("ordergate started without --db in %q: each test names its own database", args)
	}
	return db
}

var (
	// keyPattern finds an API key in text.
	keyPattern = regexp.MustCompile(`og_[A-Za-z0-9_-]{43}`)
	// keyLine is what `keys create` prints: one key, alone on a line.
	keyLine = regexp.MustCompile(`^og_[A-Za-z0-9_-]{43}\n$`)
	// keyIDPattern is what an API key's id looks like.
	keyIDPattern = regexp.MustCompile(`^key_[0-9a-f]{16}$`)
)

// keysByDB caches keyFor's keys, one per database string.
var keysByDB = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

// keyFor returns the key of the account default for db, created with
// `ordergate keys create` the first time db is asked for; later calls,
// from any test, return the same key. The cache is by string: two DSNs of
// one database get a key each, of the same account.
func keyFor(t *testing.T, db string) string {
	t.Helper()
	keysByDB.Lock()
	defer keysByDB.Unlock()
	if key, ok := keysByDB.m[db]; ok {
		return key
	}
	key := createKey(t, db, string(domain.DefaultAccount))
	keysByDB.m[db] = key
	return key
}

// createKey makes a new key for account in db with `ordergate keys
// create` and returns it: the one line the command prints on stdout.
func createKey(t *testing.T, db, account string) string {
	t.Helper()
	key, _ := keysCreate(t, db, account)
	return key
}

// createKeyID is createKey that also returns the key's id, from the
// {"msg":"api key created","key_id":...} record the command logs.
func createKeyID(t *testing.T, db, account string) (key, id string) {
	t.Helper()
	key, stderr := keysCreate(t, db, account)
	rec := logLine(stderr, "api key created")
	id, _ = rec["key_id"].(string)
	if !keyIDPattern.MatchString(id) || rec["account"] != account {
		t.Fatalf(`ordergate keys create logged %v; want {"msg":"api key created","key_id":"key_...","account":%q}`, rec, account)
	}
	return key, id
}

// keysCreate runs `ordergate keys create --account account --db db` and
// returns the key it printed and its log. It fails t if the command
// fails or prints anything but one key on a line of stdout.
func keysCreate(t *testing.T, db, account string) (key, stderr string) {
	t.Helper()
	stdout, stderr, code := keysCmd(t, "create", "--account", account, "--db", db)
	if code != 0 {
		t.Fatalf("ordergate keys create --account %s exited %d: %s", account, code, stderr)
	}
	if !keyLine.MatchString(stdout) {
		t.Fatalf("ordergate keys create printed %q on stdout; want one key alone on a line", stdout)
	}
	return strings.TrimSuffix(stdout, "\n"), stderr
}

// logLine returns the first JSON record with message msg in a log's text,
// or nil.
func logLine(log, msg string) map[string]any {
	for _, line := range strings.Split(log, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			return rec
		}
	}
	return nil
}

// keysCmd runs `ordergate keys args...` to its end (at most a minute) and
// returns what it printed and its exit code.
func keysCmd(t *testing.T, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	skipShort(t)
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"keys"}, args...)...)
	cmd.Env = append(os.Environ(), "ORDERGATE_LOG_LEVEL=info")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return out.String(), errOut.String(), exit.ExitCode()
	case err != nil:
		t.Fatalf("ordergate keys %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), 0
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// acknowledged reports whether an order in status s reached the exchange
// and was taken: placed, filling, filled, or ended there since.
func acknowledged(s string) bool {
	return s != string(domain.Pending) && s != string(domain.Rejected)
}

type orderJSON struct {
	ID                string       `json:"id"`
	Status            string       `json:"status"`
	PlacementAttempts int          `json:"placement_attempts"`
	LastError         *string      `json:"last_error"`
	FilledQuantity    int64        `json:"filled_quantity"`
	AverageFillPrice  *json.Number `json:"average_fill_price"`
}

// page is a GET /orders answer.
type page struct {
	Orders     []orderJSON `json:"orders"`
	NextCursor *string     `json:"next_cursor"`
}

func getOrder(t *testing.T, p *process, id string) orderJSON {
	t.Helper()
	resp := p.do(t, http.MethodGet, "/orders/"+id, nil)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /orders/%s = %d %s", id, resp.StatusCode, b)
	}
	var o orderJSON
	if err := json.NewDecoder(resp.Body).Decode(&o); err != nil {
		t.Fatal(err)
	}
	return o
}

// TestEndToEndPlacementSurvivesExchangeOutageAndRestart is issue 2's proof of
// the guarantee: with the exchange failing every call, orders are still
// accepted at once and stay pending while attempts grow; after a restart with
// a healthy exchange every one of them is placed, each exactly once.
func TestEndToEndPlacementSurvivesExchangeOutageAndRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "e2e.db")
	common := []string{"--db", db, "--retry-base", "20ms", "--retry-max", "100ms", "--shutdown-grace", "5s", "--breaker-open", "200ms"}

	down := start(t, append(common, "--sim-failure-rate", "1")...)
	const n = 25
	var ids []string
	var slowest time.Duration
	for i := range n {
		body := `{"type":"market","side":"buy","instrument":"US0378331005","quantity":` + fmt.Sprint(i+1) + `}`
		if i%2 == 1 {
			body = `{"type":"limit","side":"sell","instrument":"DE000BASF111","limit_price":12.30,"quantity":` + fmt.Sprint(i+1) + `}`
		}
		began := time.Now()
		resp := down.do(t, http.MethodPost, "/orders", strings.NewReader(body))
		took := time.Since(began)
		slowest = max(slowest, took)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST /orders = %d %s; want 201 while the exchange is down", resp.StatusCode, b)
		}
		var o orderJSON
		if err := json.Unmarshal(b, &o); err != nil {
			t.Fatal(err)
		}
		if got, want := resp.Header.Get("Location"), "/orders/"+o.ID; got != want {
			t.Errorf("Location = %q; want %q", got, want)
		}
		ids = append(ids, o.ID)
	}
	t.Logf("exchange failing 100%%: %d POSTs answered 201, slowest %s", n, slowest)
	// The simulator's successful calls take 0.5 s; an answer well below that
	// shows no exchange call sits in the request path. The bound is loose so
	// a loaded CI machine does not make it flaky.
	if slowest > 2*time.Second {
		t.Errorf("slowest POST took %s with the exchange down; accepting must not wait for it", slowest)
	}

	waitUntil(t, 30*time.Second, "every order to have at least 2 failed attempts", func() bool {
		for _, id := range ids {
			if o := getOrder(t, down, id); o.PlacementAttempts < 2 {
				return false
			}
		}
		return true
	})
	for _, id := range ids {
		o := getOrder(t, down, id)
		if o.Status != "pending" {
			t.Fatalf("order %s is %s with the exchange failing every call; want pending", id, o.Status)
		}
		// The exchange's own error, or the circuit breaker's once it opened.
		if o.LastError == nil || (!strings.Contains(*o.LastError, "Connection not available") && !strings.Contains(*o.LastError, "circuit breaker is open")) {
			t.Errorf("order %s last_error = %v; want a transient exchange error", id, deref(o.LastError))
		}
	}
	if down.logRecord("exchange circuit open") == nil {
		t.Error("the circuit breaker never opened while the exchange failed every call")
	}
	down.stop()
	if s := down.logRecord("simulated exchange stats"); s == nil || s["placed"] != float64(0) {
		t.Fatalf("exchange stats of the failing run = %v; want nothing placed", s)
	}

	up := start(t, append(common, "--sim-failure-rate", "0", "--sim-latency", "10ms")...)
	waitUntil(t, 30*time.Second, "every order to be placed after the restart", func() bool {
		for _, id := range ids {
			if !acknowledged(getOrder(t, up, id).Status) {
				return false
			}
		}
		return true
	})
	for _, id := range ids {
		if o := getOrder(t, up, id); o.PlacementAttempts < 3 {
			t.Errorf("order %s placed after %d attempts; want at least 3 (2 failed + 1)", id, o.PlacementAttempts)
		}
	}
	up.stop()
	s := up.logRecord("simulated exchange stats")
	if s == nil {
		t.Fatal("no exchange stats logged at shutdown")
	}
	if s["placed"] != float64(n) || s["duplicates"] != float64(0) {
		t.Errorf("exchange placed %v orders with %v duplicates; want %d placed, each exactly once", s["placed"], s["duplicates"], n)
	}
}

// TestEndToEndBadConfigurationExits shows a bad flag or variable stops the
// binary at once with one line naming it.
func TestEndToEndBadConfigurationExits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		env  string
		want string
	}{
		{args: []string{"--sim-failure-rate", "2"}, want: "--sim-failure-rate"},
		{args: []string{"--role", "boss"}, want: "--role"},
		{env: "ORDERGATE_DISPATCH_CONCURRENCY=many", want: "ORDERGATE_DISPATCH_CONCURRENCY"},
		{args: []string{"--db", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"}, want: "127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "x.db")}, tt.args...)...)
			cmd.Env = os.Environ()
			if tt.env != "" {
				cmd.Env = append(cmd.Env, tt.env)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("exit = %v; want a non-zero exit", err)
			}
			last := lastLine(stderr.String())
			if !strings.HasPrefix(last, "ordergate: ") || !strings.Contains(last, tt.want) {
				t.Errorf("last stderr line = %q; want one line naming %q", last, tt.want)
			}
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
