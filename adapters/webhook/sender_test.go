package webhook_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/webhook"
)

func ctx10s(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSenderRefusesLoopbackWithoutTheFlag(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	status, err := webhook.NewSender(false).Send(ctx10s(t), srv.URL, nil, []byte(`{}`))
	if !errors.Is(err, webhook.ErrRefusedAddress) {
		t.Errorf("Send to %s = %d, %v; want an error wrapping ErrRefusedAddress", srv.URL, status, err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server got %d requests; want 0", n)
	}
}

func TestSenderPostsWithTheFlag(t *testing.T) {
	type got struct {
		method, sig, ctype, body string
	}
	ch := make(chan got, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- got{r.Method, r.Header.Get("webhook-signature"), r.Header.Get("Content-Type"), string(b)}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	s := webhook.NewSender(true)
	defer s.CloseIdleConnections()
	status, err := s.Send(ctx10s(t), srv.URL+"/hook", map[string]string{"webhook-signature": "v1,abc", "content-type": "application/json"}, []byte(`{"a":1}`))
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("Send = %d, %v; want 202, nil", status, err)
	}
	want := got{http.MethodPost, "v1,abc", "application/json", `{"a":1}`}
	if g := <-ch; g != want {
		t.Errorf("server got %+v; want %+v", g, want)
	}
}

func TestSenderDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { followed.Add(1) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	status, err := webhook.NewSender(true).Send(ctx10s(t), srv.URL+"/hook", nil, []byte(`{}`))
	if err != nil || status != http.StatusTemporaryRedirect {
		t.Errorf("Send = %d, %v; want 307, nil", status, err)
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times; want 0", n)
	}
}

func TestSenderReadsAHugeAnswerOnlyInPart(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 32<<10))
		w.WriteHeader(http.StatusOK)
		for r.Context().Err() == nil { // endless, until the client goes away
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	status, err := webhook.NewSender(true).Send(ctx10s(t), srv.URL, nil, []byte(`{}`))
	if err != nil || status != http.StatusOK {
		t.Errorf("Send = %d, %v; want 200, nil", status, err)
	}
}

func TestSenderHonoursTheContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := webhook.NewSender(true).Send(ctx, srv.URL, nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send to a hanging endpoint = %v; want the context's deadline", err)
	}
}
