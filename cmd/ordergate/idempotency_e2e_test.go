package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ordergate/ordergate/adapters/store/storetest"
)

func TestEndToEndIdempotencyKeySQLite(t *testing.T) {
	testIdempotency(t, storetest.SQLitePath(t))
}

func TestEndToEndIdempotencyKeyPostgres(t *testing.T) {
	testIdempotency(t, storetest.PostgresDSN(t))
}

type answer struct {
	status   int
	replayed string
	id       string
	body     string
}

func post(t *testing.T, p *process, key, body string) answer {
	t.Helper()
	var header []string
	if key != "" {
		header = []string{"Idempotency-Key", key}
	}
	resp, err := p.target().send(http.DefaultClient, http.MethodPost, "/orders", strings.NewReader(body), header...)
	if err != nil {
		t.Error(err)
		return answer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var o orderJSON
	_ = json.Unmarshal(b, &o)
	return answer{status: resp.StatusCode, replayed: resp.Header.Get("Idempotent-Replayed"), id: o.ID, body: string(b)}
}

// testIdempotency races 50 requests with one key against the real binary,
// then reuses the key with another body.
func testIdempotency(t *testing.T, db string) {
	p := start(t, "--db", db, "--sim-failure-rate", "0", "--sim-latency", "1ms")
	const body = `{"type":"limit","side":"buy","instrument":"US0378331005","limit_price":10.5,"quantity":3}`
	// Same order, spelled differently: still the same request.
	const sameOrder = `{"quantity":3,"limit_price":10.50,"instrument":"US0378331005","side":"buy","type":"limit"}`

	const racers = 50
	answers := make([]answer, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			b := body
			if i%2 == 1 {
				b = sameOrder
			}
			answers[i] = post(t, p, "client-key-42", b)
		}()
	}
	close(start)
	wg.Wait()

	ids := map[string]bool{}
	fresh := 0
	for _, a := range answers {
		if a.status != http.StatusCreated {
			t.Fatalf("racing POST = %d %s; want 201", a.status, a.body)
		}
		ids[a.id] = true
		switch a.replayed {
		case "":
			fresh++
		case "true":
		default:
			t.Errorf("Idempotent-Replayed = %q", a.replayed)
		}
	}
	if len(ids) != 1 || fresh != 1 {
		t.Fatalf("%d racers got %d distinct orders, %d answers not marked replayed; want 1 order created once", racers, len(ids), fresh)
	}

	reuse := post(t, p, "client-key-42", `{"type":"market","side":"sell","instrument":"US0378331005","quantity":3}`)
	if reuse.status != 422 || !strings.Contains(reuse.body, "header.Idempotency-Key") {
		t.Errorf("key reused with another body = %d %s; want 422 naming header.Idempotency-Key", reuse.status, reuse.body)
	}
	for _, bad := range []string{"has space", strings.Repeat("k", 256)} {
		if a := post(t, p, bad, body); a.status != 422 || !strings.Contains(a.body, "Idempotency-Key") {
			t.Errorf("key %.20q... = %d %s; want 422 naming the header", bad, a.status, a.body)
		}
	}

	resp := p.do(t, http.MethodGet, "/orders?limit=500", nil)
	defer resp.Body.Close()
	var list struct {
		Orders []orderJSON `json:"orders"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if len(list.Orders) != 1 {
		t.Errorf("stored orders = %d; want exactly 1", len(list.Orders))
	}
	p.stop()
	if s := p.logRecord("simulated exchange stats"); s == nil || s["placed"] != float64(1) {
		t.Errorf("exchange stats = %v; want the one order placed once", s)
	}
}
