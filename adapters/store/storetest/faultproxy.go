package storetest

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FaultProxy is a TCP proxy on a loopback address between a PostgreSQL
// client and server that reads just enough of the wire protocol to fail at
// a transaction's most awkward moment: it can forward a COMMIT and drop the
// server's reply (the client cannot know whether the commit happened), hold
// the reply back (the client's context may end meanwhile), or close the
// connection instead of forwarding the COMMIT (the server rolls back). Each
// fault is armed for a number of COMMITs and then the proxy forwards
// faithfully again. It also cuts the network altogether (Cut, Restore).
//
// It only ever listens on and connects to loopback addresses, and every
// goroutine it starts ends when the test does.
type FaultProxy struct {
	tb      testing.TB
	addr    string
	backend string

	drop  atomic.Int64 // COMMITs whose reply to drop
	cut   atomic.Int64 // COMMITs not to forward at all
	delay atomic.Int64 // COMMITs whose reply to hold back
	hold  atomic.Int64 // how long, in nanoseconds

	commits atomic.Int64 // COMMITs seen
	faults  atomic.Int64 // faults injected

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewFaultProxy starts a proxy to the server dsn names and returns it with
// the same DSN pointed through the proxy. It fails the test if the server
// is not on a loopback address.
func NewFaultProxy(tb testing.TB, dsn string) (*FaultProxy, string) {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		tb.Fatalf("fault proxy: %s: %v", u.Host, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		tb.Fatalf("fault proxy: %s is not a loopback address; faults are injected on loopback only", host)
	}
	p := &FaultProxy{tb: tb, backend: u.Host, conns: map[net.Conn]struct{}{}}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	tb.Cleanup(p.close)
	u.Host = p.addr
	return p, u.String()
}

// DropCommitReplies arms the next n COMMITs: each is forwarded, the
// server's reply is awaited and swallowed, and both connections are closed.
// The transaction is committed; its client sees a broken connection.
func (p *FaultProxy) DropCommitReplies(n int) { p.drop.Store(int64(n)) }

// CutBeforeCommit arms the next n COMMITs: each is not forwarded and both
// connections are closed, so the server rolls the transaction back. The
// client sees the same broken connection as with DropCommitReplies.
func (p *FaultProxy) CutBeforeCommit(n int) { p.cut.Store(int64(n)) }

// DelayCommitReplies arms the next n COMMITs: each is forwarded at once but
// the server's reply is held for d before it is passed on.
func (p *FaultProxy) DelayCommitReplies(n int, d time.Duration) {
	p.hold.Store(int64(d))
	p.delay.Store(int64(n))
}

// Commits returns how many COMMITs the proxy has seen.
func (p *FaultProxy) Commits() int64 { return p.commits.Load() }

// Faults returns how many faults the proxy has injected.
func (p *FaultProxy) Faults() int64 { return p.faults.Load() }

// Cut refuses new connections and drops the open ones, as a network
// partition would.
func (p *FaultProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Restore accepts connections again on the same address after Cut.
func (p *FaultProxy) Restore() {
	p.tb.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", p.addr)
	if err != nil {
		p.tb.Fatal(err)
	}
	p.serve(ln)
}

func (p *FaultProxy) close() {
	p.Cut()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.wg.Wait()
}

// take decrements n if it is positive and reports whether it did.
func take(n *atomic.Int64) bool {
	for {
		v := n.Load()
		if v <= 0 {
			return false
		}
		if n.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

func (p *FaultProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *FaultProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(context.Background(), "tcp", p.backend)
			if err != nil {
				client.Close()
				continue
			}
			if !p.track(client) || !p.track(server) {
				client.Close()
				server.Close()
				return
			}
			s := &session{p: p, client: client, server: server, replies: make(chan fault, 1)}
			p.wg.Add(2)
			go func() { defer p.wg.Done(); s.frontend() }()
			go func() { defer p.wg.Done(); s.backend() }()
		}
	}()
}

// fault is what to do with the server's reply to one COMMIT.
type fault int

const (
	passReply fault = iota
	dropReply
	delayReply
)

// session is one proxied connection.
type session struct {
	p              *FaultProxy
	client, server net.Conn
	// replies tells the backend pump how to treat the reply to the COMMIT
	// the frontend pump just forwarded. The protocol is strictly
	// request-reply for COMMIT: the client sends nothing else until the
	// reply's ReadyForQuery.
	replies chan fault
}

func (s *session) closeBoth() {
	s.client.Close()
	s.server.Close()
}

// frontend forwards the client's messages, watching for COMMIT.
func (s *session) frontend() {
	defer s.closeBoth()
	r := bufio.NewReader(s.client)
	// The first message has no type byte: length, then a protocol code.
	// SSL and GSS encryption requests are answered "no" here, so that the
	// rest of the stream stays readable.
	for {
		msg, err := readUntyped(r)
		if err != nil {
			return
		}
		code := binary.BigEndian.Uint32(msg[4:8])
		if code == 80877103 || code == 80877104 { // SSLRequest, GSSENCRequest
			if _, err := s.client.Write([]byte{'N'}); err != nil {
				return
			}
			continue
		}
		if _, err := s.server.Write(msg); err != nil {
			return
		}
		if code == 80877102 { // CancelRequest: nothing follows
			_, _ = io.Copy(io.Discard, r)
			return
		}
		break
	}
	for {
		msg, err := readTyped(r)
		if err != nil {
			return
		}
		if msg[0] == 'Q' && isCommit(msg[5:]) {
			s.p.commits.Add(1)
			f := passReply
			switch {
			case take(&s.p.cut):
				s.p.faults.Add(1)
				return // not forwarded: the server rolls back
			case take(&s.p.drop):
				s.p.faults.Add(1)
				f = dropReply
			case take(&s.p.delay):
				s.p.faults.Add(1)
				f = delayReply
			}
			// Never blocks: the client sent nothing since the last reply's
			// ReadyForQuery, by which time the backend pump took the last value.
			select {
			case s.replies <- f:
			default:
			}
		}
		if _, err := s.server.Write(msg); err != nil {
			return
		}
	}
}

// backend forwards the server's messages, applying the fault the frontend
// chose to the reply of each COMMIT.
func (s *session) backend() {
	defer s.closeBoth()
	r := bufio.NewReader(s.server)
	var pending []byte // a held reply
	mode := passReply
	for {
		msg, err := readTyped(r)
		if err != nil {
			return
		}
		if mode == passReply {
			select {
			case mode = <-s.replies:
			default:
			}
		}
		if mode == passReply {
			if _, err := s.client.Write(msg); err != nil {
				return
			}
			continue
		}
		pending = append(pending, msg...)
		if msg[0] != 'Z' { // the reply ends with ReadyForQuery
			continue
		}
		switch mode {
		case dropReply:
			return // committed, and the client never hears of it
		case delayReply:
			time.Sleep(time.Duration(s.p.hold.Load()))
			if _, err := s.client.Write(pending); err != nil {
				return
			}
		}
		pending, mode = pending[:0], passReply
	}
}

// isCommit reports whether a simple query's text (NUL-terminated) is COMMIT.
func isCommit(q []byte) bool {
	s := strings.TrimSpace(strings.TrimRight(string(q), "\x00"))
	s = strings.TrimSuffix(s, ";")
	return strings.EqualFold(s, "commit") || strings.EqualFold(s, "end")
}

// maxMessage bounds one protocol message: the proxy never buffers more.
const maxMessage = 64 << 20

func readUntyped(r *bufio.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 8 || n > maxMessage {
		return nil, fmt.Errorf("fault proxy: startup message of %d bytes", n)
	}
	msg := make([]byte, n)
	copy(msg, hdr[:])
	_, err := io.ReadFull(r, msg[4:])
	return msg, err
}

func readTyped(r *bufio.Reader) ([]byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n < 4 || n > maxMessage {
		return nil, errors.New("fault proxy: malformed message length")
	}
	msg := make([]byte, 1+n)
	copy(msg, hdr[:])
	_, err := io.ReadFull(r, msg[5:])
	return msg, err
}
