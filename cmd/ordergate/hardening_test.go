package main

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServerBoundsEveryPhase(t *testing.T) {
	srv := newServer(http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout,
	} {
		if d <= 0 || d > 2*time.Minute {
			t.Errorf("%s = %s; want a bound of at most 2 minutes", name, d)
		}
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<20 {
		t.Errorf("MaxHeaderBytes = %d", srv.MaxHeaderBytes)
	}
}

// TestEndToEndSlowClientIsCutOff opens a connection to the real binary and
// sends headers that never end: the server must hang up by itself.
func TestEndToEndSlowClientIsCutOff(t *testing.T) {
	p := start(t, "--db", t.TempDir()+"/slow.db")
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = bufio.NewReader(conn).ReadString('\n')
	took := time.Since(began)
	// The server hangs up (EOF) or answers 408; a read deadline of ours
	// firing instead means it kept waiting for the headers.
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("server still waiting for headers after %s", took)
	}
	if err != nil && !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read: %v", err)
	}
	t.Logf("slow client cut off after %s", took.Round(time.Millisecond))
}
