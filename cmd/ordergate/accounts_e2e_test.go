package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/adapters/store/storetest"
	"github.com/ordergate/ordergate/domain"
)

// quickSim makes the in-process simulator quick and reliable: every call
// answers in 10 ms, a marketable order fills within about 50 ms, and a
// limit buy below its price (100.00) rests for its order TTL (1 h).
var quickSim = []string{"--sim-latency", "10ms", "--sim-failure-rate", "0", "--sim-fill-time", "50ms"}

// Orders of each kind the account tests place.
const (
	restingBody = `{"type":"limit","side":"buy","instrument":"US0378331005","limit_price":90.00,"quantity":5}`
	marketBody  = `{"type":"market","side":"buy","instrument":"US0378331005","quantity":4}`
	keyedBody   = `{"type":"limit","side":"buy","instrument":"DE000BASF111","limit_price":91.00,"quantity":2}`
	cancelBody  = `{"type":"limit","side":"sell","instrument":"US0378331005","limit_price":150.00,"quantity":3}`
)

// reply is an HTTP answer, its body read whole.
type reply struct {
	code   int
	header http.Header
	body   string
}

// call sends a request to tg and reads the answer.
func call(t *testing.T, tg target, method, path, body string, header ...string) reply {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	resp := tg.do(t, method, path, r, header...)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the body: %v", method, path, err)
	}
	return reply{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

// String shows the answer in failure messages.
func (r reply) String() string { return fmt.Sprintf("%d %s", r.code, r.body) }

// order decodes the answer's body as an order.
func (r reply) order(t *testing.T) orderJSON {
	t.Helper()
	var o orderJSON
	if err := json.Unmarshal([]byte(r.body), &o); err != nil {
		t.Fatalf("decode order from %s: %v", r, err)
	}
	return o
}

// place POSTs body to tg and returns the order, failing t unless it is
// created (201, not replayed).
func place(t *testing.T, tg target, body string, header ...string) string {
	t.Helper()
	r := call(t, tg, http.MethodPost, "/orders", body, header...)
	if r.code != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("POST /orders %s = %s (Idempotent-Replayed %q); want 201, created", body, r, r.header.Get("Idempotent-Replayed"))
	}
	return r.order(t).ID
}

// waitStatus waits until tg's GET /orders/{id} shows status.
func waitStatus(t *testing.T, tg target, id, status string) {
	t.Helper()
	waitUntil(t, 20*time.Second, "order "+id+" to be "+status, func() bool {
		r := call(t, tg, http.MethodGet, "/orders/"+id, "")
		return r.code == http.StatusOK && r.order(t).Status == status
	})
}

// listIDs pages through GET /orders?limit=limit (and query, if any) with
// tg's key and returns the IDs, newest first.
func listIDs(t *testing.T, tg target, query string, limit int) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for range 1000 { // bounded: no test here stores 1000 pages
		path := fmt.Sprintf("/orders?limit=%d%s%s", limit, query, cursor)
		r := call(t, tg, http.MethodGet, path, "")
		if r.code != http.StatusOK {
			t.Fatalf("GET %s = %s", path, r)
		}
		var pg page
		if err := json.Unmarshal([]byte(r.body), &pg); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		for _, o := range pg.Orders {
			ids = append(ids, o.ID)
		}
		if pg.NextCursor == nil {
			return ids
		}
		cursor = "&cursor=" + *pg.NextCursor
	}
	t.Fatalf("GET /orders%s never ended", query)
	return nil
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// containsAny returns the first of ids found in s, or "".
func containsAny(s string, ids []string) string {
	for _, id := range ids {
		if strings.Contains(s, id) {
			return id
		}
	}
	return ""
}

// stateOf returns what a client's request could change of an order (its
// status and fills) and what names it. The rest is the dispatcher's and
// the feed's: the venue's acknowledgement may arrive before or after the
// dispatcher records its attempt, so an order that shows placed may still
// see placed_at, placement_attempts and updated_at move.
func stateOf(t *testing.T, body string) string {
	t.Helper()
	var o map[string]any
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatalf("decode order %s: %v", body, err)
	}
	state := map[string]any{}
	for _, k := range []string{"id", "created_at", "type", "side", "instrument", "limit_price", "quantity", "status", "filled_quantity", "average_fill_price"} {
		state[k] = o[k]
	}
	b, _ := json.Marshal(state)
	return string(b)
}

// matrix counts the cells of a test matrix as they are checked.
type matrix struct {
	t     *testing.T
	cells int
}

// check counts one cell, failing t with the message unless ok.
func (m *matrix) check(ok bool, format string, args ...any) {
	m.t.Helper()
	m.cells++
	if !ok {
		m.t.Errorf(format, args...)
	}
}

// sameAs reports whether got answers for id exactly as want answered for
// other: the same status, content type and body, but for the ID itself.
func sameAs(got reply, id string, want reply, other string) bool {
	return got.code == want.code && got.header.Get("Content-Type") == want.header.Get("Content-Type") &&
		strings.ReplaceAll(got.body, id, "{id}") == strings.ReplaceAll(want.body, other, "{id}")
}

func TestAccountIsolationSQLite(t *testing.T) {
	testAccountIsolation(t, storetest.SQLitePath(t))
}

func TestAccountIsolationPostgres(t *testing.T) {
	testAccountIsolation(t, storetest.PostgresDSN(t))
}

// testAccountIsolation is the contract's isolation rule through the
// binary: account B reads, cancels, lists and replays against every kind
// of order of account A (resting, filled, keyed, canceled) and meets a 404
// exactly like an unknown id's, lists without a trace of A, and its
// Idempotency-Keys are its own; the same holds the other way round.
func testAccountIsolation(t *testing.T, db string) {
	aliceKey, bobKey := createKey(t, db, "alice"), createKey(t, db, "bob")
	p := start(t, append([]string{"--db", db}, quickSim...)...)
	alice, bob := p.as(aliceKey), p.as(bobKey)

	// A's orders: one of each kind, in the state it keeps from then on.
	resting := place(t, alice, restingBody)
	filled := place(t, alice, marketBody, "Idempotency-Key", "shared-market")
	keyed := place(t, alice, keyedBody, "Idempotency-Key", "shared-limit")
	canceled := place(t, alice, cancelBody)
	waitStatus(t, alice, canceled, "placed")
	if r := call(t, alice, http.MethodDelete, "/orders/"+canceled, ""); r.code != http.StatusAccepted {
		t.Fatalf("A's DELETE of its own order = %s; want 202", r)
	}
	waitStatus(t, alice, resting, "placed")
	waitStatus(t, alice, filled, "filled")
	waitStatus(t, alice, keyed, "placed")
	waitStatus(t, alice, canceled, "canceled")
	aliceIDs := []string{resting, filled, keyed, canceled}
	snapshot := map[string]string{}
	for _, id := range aliceIDs {
		snapshot[id] = call(t, alice, http.MethodGet, "/orders/"+id, "").body
	}
	// B has an order of its own, so that its lists are never empty by
	// chance.
	bobIDs := []string{place(t, bob, restingBody)}

	m := &matrix{t: t}
	unknown := domain.NewID(time.Now()).String()
	reads := []struct{ method, path string }{
		{http.MethodGet, "/orders/%s"},
		{http.MethodGet, "/orders/%s/fills"},
		{http.MethodDelete, "/orders/%s"},
	}
	// foreign checks that who meets another account's orders ids as if
	// they did not exist, and that owner's orders did not change.
	foreign := func(who, owner target, ids []string, before map[string]string) {
		t.Helper()
		for _, rd := range reads {
			want := call(t, who, rd.method, fmt.Sprintf(rd.path, unknown), "")
			if want.code != http.StatusNotFound {
				t.Fatalf("%s of an unknown id = %s; want 404", rd.method, want)
			}
			for _, id := range ids {
				got := call(t, who, rd.method, fmt.Sprintf(rd.path, id), "")
				m.check(sameAs(got, id, want, unknown), "%s %s by another account = %s; want exactly what an unknown id gets: %s",
					rd.method, fmt.Sprintf(rd.path, id), got, want)
			}
		}
		for _, id := range ids {
			after := call(t, owner, http.MethodGet, "/orders/"+id, "")
			m.check(after.code == http.StatusOK && stateOf(t, after.body) == stateOf(t, before[id]),
				"order %s after another account's DELETE = %s; want unchanged: %s", id, after, before[id])
		}
	}
	// invisible checks that who's list answers carry none of ids, for
	// every status filter.
	invisible := func(who target, ids []string, name string) {
		t.Helper()
		queries := []string{"", "?limit=500"}
		for _, s := range domain.Statuses() {
			queries = append(queries, "?status="+string(s))
		}
		for _, q := range queries {
			r := call(t, who, http.MethodGet, "/orders"+q, "")
			m.check(r.code == http.StatusOK && containsAny(r.body, ids) == "", "%s's GET /orders%s = %s; want 200 without the other account's orders", name, q, r)
		}
	}

	foreign(bob, alice, aliceIDs, snapshot)
	invisible(bob, aliceIDs, "B")

	// A's cursors, each at one of A's orders, lead B only to B's orders.
	var cursors []string
	for c := ""; len(cursors) < len(aliceIDs); {
		r := call(t, alice, http.MethodGet, "/orders?limit=1"+c, "")
		var pg page
		if err := json.Unmarshal([]byte(r.body), &pg); err != nil || len(pg.Orders) == 0 || pg.NextCursor == nil {
			break
		}
		cursors = append(cursors, *pg.NextCursor)
		c = "&cursor=" + *pg.NextCursor
	}
	if len(cursors) < len(aliceIDs)-1 {
		t.Fatalf("A's listing one order a page gave %d cursors; want at least %d", len(cursors), len(aliceIDs)-1)
	}
	for _, c := range cursors {
		for _, q := range []string{"?cursor=" + c, "?limit=1&cursor=" + c, "?status=placed&cursor=" + c} {
			// The cursor is opaque: B may be refused it (422) or get its
			// own orders past that point, never A's.
			r := call(t, bob, http.MethodGet, "/orders"+q, "")
			m.check((r.code == http.StatusOK || r.code == http.StatusUnprocessableEntity) && containsAny(r.body, aliceIDs) == "",
				"B's GET /orders%s with A's cursor = %s; want 200 or 422, without A's orders", q, r)
		}
	}

	// Idempotency-Keys belong to the account: B's use of A's keys creates
	// B's orders and leaves A's replays as they were.
	r := call(t, bob, http.MethodPost, "/orders", keyedBody, "Idempotency-Key", "shared-limit")
	m.check(r.code == http.StatusCreated && r.order(t).ID != keyed && r.header.Get("Idempotent-Replayed") == "",
		"B's POST with A's Idempotency-Key and A's body = %s (replayed %q); want 201, a new order", r, r.header.Get("Idempotent-Replayed"))
	bobKeyed := r.order(t).ID
	r = call(t, bob, http.MethodPost, "/orders", restingBody, "Idempotency-Key", "shared-market")
	m.check(r.code == http.StatusCreated && r.order(t).ID != filled && r.header.Get("Idempotent-Replayed") == "",
		"B's POST with A's Idempotency-Key and another body = %s; want 201, a new order (no 422: the key is A's, not B's)", r)
	bobOther := r.order(t).ID
	bobIDs = append(bobIDs, bobKeyed, bobOther)
	for _, replay := range []struct {
		who         target
		body, key   string
		want, owner string
	}{
		{bob, keyedBody, "shared-limit", bobKeyed, "B"},
		{alice, keyedBody, "shared-limit", keyed, "A"},
		{alice, marketBody, "shared-market", filled, "A"},
	} {
		r := call(t, replay.who, http.MethodPost, "/orders", replay.body, "Idempotency-Key", replay.key)
		m.check(r.code == http.StatusCreated && r.order(t).ID == replay.want && r.header.Get("Idempotent-Replayed") == "true",
			"%s's replay of %s = %s; want 201 replaying %s", replay.owner, replay.key, r, replay.want)
	}

	// B's own orders are B's: visible to B, in B's listing page by page,
	// and as unknown to A as A's are to B.
	for _, id := range bobIDs {
		r := call(t, bob, http.MethodGet, "/orders/"+id, "")
		m.check(r.code == http.StatusOK, "B's GET of its own order %s = %s; want 200", id, r)
	}
	got := listIDs(t, bob, "", 1)
	m.check(sameSet(got, bobIDs), "B's listing, one order a page = %v; want exactly B's %v", got, bobIDs)
	got = listIDs(t, alice, "", 2)
	m.check(sameSet(got, aliceIDs), "A's listing, two orders a page = %v; want exactly A's %v", got, aliceIDs)
	bobSnapshot := map[string]string{}
	for _, id := range bobIDs {
		waitStatus(t, bob, id, "placed")
		bobSnapshot[id] = call(t, bob, http.MethodGet, "/orders/"+id, "").body
	}
	foreign(alice, bob, bobIDs, bobSnapshot)
	invisible(alice, bobIDs, "A")
	// And after all that, A's orders are as they were.
	for _, id := range aliceIDs {
		r := call(t, alice, http.MethodGet, "/orders/"+id, "")
		m.check(stateOf(t, r.body) == stateOf(t, snapshot[id]), "A's order %s at the end = %s; want unchanged: %s", id, r, snapshot[id])
	}
	t.Logf("isolation matrix: %d cells checked (%d orders of A and %d of B, each read, its fills read and canceled by the other account; %d list queries each way; %d of A's cursors used by B; 5 Idempotency-Key cases)",
		m.cells, len(aliceIDs), len(bobIDs), 2+len(domain.Statuses()), len(cursors))
}

func TestUnauthenticatedRequestsSQLite(t *testing.T) {
	testUnauthenticated(t, storetest.SQLitePath(t))
}

func TestUnauthenticatedRequestsPostgres(t *testing.T) {
	testUnauthenticated(t, storetest.PostgresDSN(t))
}

// testUnauthenticated sends every order endpoint each kind of credential
// that is not a valid key: each gets 401 with WWW-Authenticate: Bearer and
// a problem document that echoes nothing, and none stores or cancels
// anything. A revoked key stops working within about a second. The
// operations endpoints need no key.
func testUnauthenticated(t *testing.T, db string) {
	aliceKey := createKey(t, db, "alice")
	revokedKey, revokedID := createKeyID(t, db, "alice")
	p := start(t, append([]string{"--db", db}, quickSim...)...)
	alice := p.as(aliceKey)
	resting := place(t, alice, restingBody)
	made := []string{resting, place(t, alice, marketBody)}
	waitStatus(t, alice, resting, "placed")

	// The key works until it is revoked, then stops within the auth
	// cache's 1 s TTL on every instance: a second instance on the same
	// database trusts the key too when it is revoked. The bound is the TTL
	// plus room for a loaded machine.
	other := start(t, append([]string{"--db", db, "--role", "api"}, quickSim...)...)
	instances := []*process{p, other}
	for _, inst := range instances {
		if r := call(t, inst.as(revokedKey), http.MethodGet, "/orders", ""); r.code != http.StatusOK {
			t.Fatalf("GET /orders with the key before its revocation = %s; want 200", r)
		}
	}
	if _, stderr, code := keysCmd(t, "revoke", revokedID, "--db", db); code != 0 {
		t.Fatalf("ordergate keys revoke %s exited %d: %s", revokedID, code, stderr)
	}
	revokedAt := time.Now()
	for i, inst := range instances {
		waitUntil(t, 2*time.Second, fmt.Sprintf("instance %d to refuse the revoked key", i+1), func() bool {
			return call(t, inst.as(revokedKey), http.MethodGet, "/orders", "").code == http.StatusUnauthorized
		})
	}
	t.Logf("revoked key refused by both instances %s after `keys revoke` returned", time.Since(revokedAt).Round(time.Millisecond))

	var random [32]byte
	_, _ = rand.Read(random[:])
	unknownKey := "og_" + base64.RawURLEncoding.EncodeToString(random[:])
	huge := strings.Repeat("A", 16<<10)
	// A header value's leading and trailing white space is not part of it
	// (RFC 9110, section 5.5): net/http strips it before any handler sees
	// it, so "the valid key and a trailing space" arrives as the valid key
	// and cannot be refused. The cases below with more after the key are
	// the ones that reach the server.
	credentials := []struct {
		name   string
		header string // the Authorization header; "" sends none
		secret string // what the answer must not echo
	}{
		{"no header", "", ""},
		{"Basic scheme", "Basic xyz", "xyz"},
		{"Bearer without a key", "Bearer ", ""},
		{"unknown well-formed key", "Bearer " + unknownKey, unknownKey},
		{"revoked key", "Bearer " + revokedKey, revokedKey},
		{"valid key without the Bearer scheme", aliceKey, aliceKey},
		{"valid key and one character more", "Bearer " + aliceKey + "x", aliceKey},
		{"valid key, a space and more", "Bearer " + aliceKey + " x", aliceKey},
		{"16 KiB header value", "Bearer " + huge, huge[:64]},
	}
	endpoints := []struct{ method, path, body string }{
		{http.MethodPost, "/orders", marketBody},
		{http.MethodGet, "/orders", ""},
		{http.MethodGet, "/orders/" + resting, ""},
		{http.MethodGet, "/orders/" + resting + "/fills", ""},
		{http.MethodDelete, "/orders/" + resting, ""},
	}
	m := &matrix{t: t}
	anonymous := p.as("")
	for _, c := range credentials {
		var header []string
		if c.header != "" {
			header = []string{"Authorization", c.header}
		}
		for _, e := range endpoints {
			r := call(t, anonymous, e.method, e.path, e.body, header...)
			where := fmt.Sprintf("%s %s with %s", e.method, e.path, c.name)
			if r.code == http.StatusRequestHeaderFieldsTooLarge && c.name == "16 KiB header value" {
				// The server may refuse a header this large before any
				// handler runs (--max-header-bytes of net/http); refused
				// either way, and nothing is stored.
				m.check(true, "")
				continue
			}
			var problem struct {
				Status int `json:"status"`
			}
			m.check(r.code == http.StatusUnauthorized &&
				strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") &&
				strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") &&
				json.Unmarshal([]byte(r.body), &problem) == nil && problem.Status == http.StatusUnauthorized,
				"%s = %s (WWW-Authenticate %q, Content-Type %q); want 401, WWW-Authenticate: Bearer, a problem document with status 401",
				where, r, r.header.Get("WWW-Authenticate"), r.header.Get("Content-Type"))
			m.check((c.secret == "" || !strings.Contains(r.body, c.secret)) && !keyPattern.MatchString(r.body),
				"%s echoes the credential: %s", where, r)
		}
	}

	// Nothing was stored or canceled.
	got := listIDs(t, alice, "", 500)
	m.check(sameSet(got, made), "A's orders after the refused requests = %v; want exactly %v", got, made)
	m.check(call(t, alice, http.MethodGet, "/orders/"+resting, "").order(t).Status == "placed", "A's resting order is no longer placed after refused DELETEs")
	if orders, _ := rowCounts(t, db); orders != len(made) {
		t.Errorf("%d orders stored; want %d: a refused request stored one", orders, len(made))
	}

	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.yaml", "/openapi.json", "/docs"} {
		r := call(t, anonymous, http.MethodGet, path, "")
		m.check(r.code == http.StatusOK, "GET %s without a key = %d; want 200", path, r.code)
	}
	t.Logf("401 matrix: %d cells checked (%d credentials x %d order endpoints, status and echo each; 3 checks that nothing was stored; 6 operations endpoints)",
		m.cells, len(credentials), len(endpoints))
}

func TestRateLimitPerKeySQLite(t *testing.T) {
	testRateLimit(t, storetest.SQLitePath(t))
}

func TestRateLimitPerKeyPostgres(t *testing.T) {
	testRateLimit(t, storetest.PostgresDSN(t))
}

// testRateLimit sends 30 quick requests with one key to an instance
// allowing 5 a second with a burst of 10: the burst passes, then 429 with
// Retry-After, while another key is served.
func testRateLimit(t *testing.T, db string) {
	aliceKey, bobKey := createKey(t, db, "alice"), createKey(t, db, "bob")
	p := start(t, append([]string{"--db", db, "--rate-limit", "5"}, quickSim...)...)
	alice, bob := p.as(aliceKey), p.as(bobKey)

	const sent, burst = 30, 10
	codes := map[int]int{}
	var limited []reply
	for i := range sent {
		r := call(t, alice, http.MethodGet, "/orders", "")
		codes[r.code]++
		switch {
		case r.code == http.StatusTooManyRequests:
			limited = append(limited, r)
		case r.code != http.StatusOK:
			t.Errorf("request %d = %s; want 200 or 429", i, r)
		}
		if i < burst && r.code != http.StatusOK {
			t.Errorf("request %d, within a fresh key's burst of %d, = %s; want 200", i, burst, r)
		}
	}
	// Served while A is over its limit, just after A's burst.
	if r := call(t, bob, http.MethodGet, "/orders", ""); r.code != http.StatusOK {
		t.Errorf("another key's GET /orders while A is limited = %s; want 200", r)
	}
	t.Logf("%d requests with one key at --rate-limit 5: %v", sent, codes)
	if len(limited) == 0 {
		t.Fatalf("no 429 among %d requests at --rate-limit 5", sent)
	}
	for _, r := range limited {
		if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s <= 0 {
			t.Errorf("429 Retry-After = %q; want a positive number of seconds", r.header.Get("Retry-After"))
		}
		if strings.Contains(r.body, aliceKey) {
			t.Errorf("429 echoes the key: %s", r)
		}
	}
}

func TestKeysCommandsSQLite(t *testing.T) {
	testKeysCommands(t, storetest.SQLitePath(t))
}

func TestKeysCommandsPostgres(t *testing.T) {
	testKeysCommands(t, storetest.PostgresDSN(t))
}

// keyRow is a line of `ordergate keys list`.
type keyRow struct {
	id, account                  string
	createdAt, lastUsed, revoked string
}

// listKeys runs `ordergate keys list --db db` and parses its table,
// checking its header and that it shows no key.
func listKeys(t *testing.T, db string) []keyRow {
	t.Helper()
	stdout, stderr, code := keysCmd(t, "list", "--db", db)
	if code != 0 {
		t.Fatalf("ordergate keys list exited %d: %s", code, stderr)
	}
	if strings.Contains(stdout, "og_") || keyPattern.MatchString(stderr) {
		t.Errorf("ordergate keys list shows a key:\n%s\n%s", stdout, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if got, want := strings.Fields(lines[0]), []string{"KEY_ID", "ACCOUNT", "CREATED_AT", "LAST_USED_AT", "REVOKED_AT"}; !slices.Equal(got, want) {
		t.Fatalf("ordergate keys list header = %q; want %q", lines[0], want)
	}
	var rows []keyRow
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) != 5 {
			t.Fatalf("ordergate keys list line %q; want 5 columns", line)
		}
		rows = append(rows, keyRow{id: f[0], account: f[1], createdAt: f[2], lastUsed: f[3], revoked: f[4]})
	}
	return rows
}

// isTime reports whether s is an RFC 3339 time.
func isTime(s string) bool {
	_, err := time.Parse(time.RFC3339, s)
	return err == nil
}

// testKeysCommands runs keys create, list and revoke on a fresh database:
// each migrates it first, only a new key goes to stdout, and listings and
// logs never show one.
func testKeysCommands(t *testing.T, db string) {
	if rows := listKeys(t, db); len(rows) != 0 {
		t.Fatalf("keys list on a fresh database = %v; want no keys", rows)
	}

	stdout, stderr, code := keysCmd(t, "create", "--account", "carol", "--db", db)
	if code != 0 || !keyLine.MatchString(stdout) {
		t.Fatalf("keys create = exit %d, stdout %q; want 0 and one key alone on a line\n%s", code, stdout, stderr)
	}
	carolKey := strings.TrimSuffix(stdout, "\n")
	rec := logLine(stderr, "api key created")
	carolID, _ := rec["key_id"].(string)
	if !keyIDPattern.MatchString(carolID) || rec["account"] != "carol" {
		t.Errorf(`keys create logged %v; want {"msg":"api key created","key_id":"key_...","account":"carol"}`, rec)
	}
	if strings.Contains(stderr, "og_") {
		t.Errorf("keys create logs the key:\n%s", stderr)
	}
	daveKey, daveID := createKeyID(t, db, "dave")
	if daveKey == carolKey || daveID == carolID {
		t.Fatalf("two keys created alike: %s %s, %s %s", carolKey, carolID, daveKey, daveID)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var stored int
	if err := st.Bun().NewRaw("SELECT count(*) FROM api_keys").Scan(ctx, &stored); err != nil {
		t.Fatalf("keys create left no migrated database: %v", err)
	}
	if stored != 2 {
		t.Errorf("%d keys stored; want 2", stored)
	}

	rows := listKeys(t, db)
	want := map[string]string{carolID: "carol", daveID: "dave"}
	if len(rows) != len(want) {
		t.Fatalf("keys list = %v; want the 2 keys", rows)
	}
	for _, r := range rows {
		if want[r.id] != r.account || !isTime(r.createdAt) || r.lastUsed != "-" || r.revoked != "-" {
			t.Errorf("keys list row %+v; want %s of %s, an RFC 3339 creation time, never used (-), not revoked (-)", r, r.id, want[r.id])
		}
	}

	unknown := "key_0123456789abcdef"
	stdout, stderr, code = keysCmd(t, "revoke", unknown, "--db", db)
	if code == 0 || stdout != "" || lastLine(stderr) == "" {
		t.Errorf("keys revoke %s (unknown) = exit %d, stdout %q, stderr %q; want non-zero with a one-line message", unknown, code, stdout, stderr)
	}
	t.Logf("keys revoke of an unknown id says: %s", lastLine(stderr))
	if stdout, stderr, code = keysCmd(t, "revoke", daveID, "--db", db); code != 0 || stdout != "" {
		t.Errorf("keys revoke %s = exit %d, stdout %q; want 0 and nothing on stdout\n%s", daveID, code, stdout, stderr)
	}
	for _, r := range listKeys(t, db) {
		if revoked := r.id == daveID; revoked != isTime(r.revoked) || !revoked && r.revoked != "-" {
			t.Errorf("keys list row %+v after revoking %s; want a revocation time on it alone", r, daveID)
		}
	}

	for _, bad := range []string{"bad name!", ""} {
		stdout, stderr, code = keysCmd(t, "create", "--account", bad, "--db", db)
		if code != 2 || stdout != "" {
			t.Errorf("keys create --account %q = exit %d, stdout %q; want exit 2 and no key\n%s", bad, code, stdout, stderr)
		}
	}
	if rows := listKeys(t, db); len(rows) != 2 {
		t.Errorf("keys list after refused creates = %v; want the 2 keys", rows)
	}
}

func TestFirstStartPrintsOneKeySQLite(t *testing.T) {
	testFirstStart(t, storetest.SQLitePath(t))
}

func TestFirstStartPrintsOneKeyPostgres(t *testing.T) {
	testFirstStart(t, storetest.PostgresDSN(t))
}

// printedKeys returns the keys in lines.
func printedKeys(lines []string) []string {
	var keys []string
	for _, line := range lines {
		keys = append(keys, keyPattern.FindAllString(line, -1)...)
	}
	return keys
}

// firstKey waits for the first key p prints on stdout, checks it is the
// only one and that p logged its id and never the key, and returns it.
func firstKey(t *testing.T, p *process) string {
	t.Helper()
	waitUntil(t, 10*time.Second, "the first key on stdout and its log record", func() bool {
		stdout, _ := p.output()
		return len(printedKeys(stdout)) > 0 && p.logRecord("created the first API key") != nil
	})
	stdout, _ := p.output()
	key := printedKeys(stdout)[0]
	rec := p.logRecord("created the first API key")
	if id, _ := rec["key_id"].(string); !keyIDPattern.MatchString(id) || rec["account"] != string(domain.DefaultAccount) {
		t.Errorf(`first key logged as %v; want {"msg":"created the first API key","key_id":"key_...","account":"default"}`, rec)
	}
	return key
}

// checkQuiet checks a stopped process printed no key on stdout, logged no
// first key, and logged nothing that looks like a key.
func checkQuiet(t *testing.T, p *process, what string) {
	t.Helper()
	stdout, stderr := p.output()
	if keys := printedKeys(stdout); len(keys) != 0 {
		t.Errorf("%s printed %d keys; want none", what, len(keys))
	}
	if p.logRecord("created the first API key") != nil {
		t.Errorf("%s created a first key", what)
	}
	checkNoKeyLogged(t, stderr, what)
}

// checkNoKeyLogged checks no line of a log has "og_" in it, the prefix of
// every key.
func checkNoKeyLogged(t *testing.T, stderr []string, what string) {
	t.Helper()
	for _, line := range stderr {
		if strings.Contains(line, "og_") {
			t.Errorf("%s logged a key: %s", what, line)
		}
	}
}

// testFirstStart starts the server on a fresh database: an instance that
// serves no API creates no key; the first that does prints one on stdout,
// once, logs its id, and the key works; a restart prints none.
func testFirstStart(t *testing.T, db string) {
	d := startFresh(t, append([]string{"--db", db, "--role", "dispatcher"}, quickSim...)...)
	d.stop()
	checkQuiet(t, d, "an instance in role dispatcher")

	p := startFresh(t, append([]string{"--db", db}, quickSim...)...)
	key := firstKey(t, p)
	p.key = key
	if r := call(t, p.target(), http.MethodGet, "/orders", ""); r.code != http.StatusOK {
		t.Errorf("GET /orders with the first key = %s; want 200", r)
	}
	p.stop()
	stdout, stderr := p.output()
	if keys := printedKeys(stdout); len(keys) != 1 {
		t.Errorf("first start printed %d keys; want 1", len(keys))
	}
	checkNoKeyLogged(t, stderr, "the first start")
	t.Logf("first start printed:\n%s", strings.Join(stdout, "\n"))

	again := startFresh(t, append([]string{"--db", db}, quickSim...)...)
	if r := call(t, again.as(key), http.MethodGet, "/orders", ""); r.code != http.StatusOK {
		t.Errorf("GET /orders with the first key after a restart = %s; want 200", r)
	}
	again.stop()
	checkQuiet(t, again, "the second start")
	if rows := listKeys(t, db); len(rows) != 1 || rows[0].account != string(domain.DefaultAccount) {
		t.Errorf("keys list = %v; want the one key of account default", rows)
	}
}

// TestFirstStartOfManyInstancesPrintsOneKeyPostgres starts three
// instances at once on one fresh PostgreSQL database: exactly one of them
// creates and prints a key, and every one accepts it.
func TestFirstStartOfManyInstancesPrintsOneKeyPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	skipShort(t)
	if _, err := buildBinary(); err != nil {
		t.Fatal(err)
	}
	const n = 3
	ps := make([]*process, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ps[i], errs[i] = launch(t, buildBinary, "", append([]string{"--db", dsn}, quickSim...)...)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var key string
	waitUntil(t, 10*time.Second, "a key on one instance's stdout", func() bool {
		for _, p := range ps {
			if stdout, _ := p.output(); len(printedKeys(stdout)) > 0 {
				key = printedKeys(stdout)[0]
				return true
			}
		}
		return false
	})
	for i, p := range ps {
		p.waitHealthy(t)
		if r := call(t, p.as(key), http.MethodGet, "/orders", ""); r.code != http.StatusOK {
			t.Errorf("instance %d: GET /orders with the first key = %s; want 200", i, r)
		}
	}
	printed, logged := 0, 0
	for i, p := range ps {
		p.stop()
		stdout, stderr := p.output()
		printed += len(printedKeys(stdout))
		if p.logRecord("created the first API key") != nil {
			logged++
		}
		checkNoKeyLogged(t, stderr, fmt.Sprintf("instance %d", i))
	}
	if printed != 1 || logged != 1 {
		t.Errorf("%d instances starting at once printed %d keys and logged %d first keys; want 1 and 1", n, printed, logged)
	}
	if rows := listKeys(t, dsn); len(rows) != 1 {
		t.Errorf("keys list = %v; want exactly one key", rows)
	}
	again := startFresh(t, append([]string{"--db", dsn}, quickSim...)...)
	again.stop()
	checkQuiet(t, again, "a later start")
}
