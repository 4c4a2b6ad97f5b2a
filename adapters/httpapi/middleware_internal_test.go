package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestStatusWriterFlushes: the access log's writer is an http.Flusher
// itself, for handlers that assert one, and lets http.ResponseController
// flush through it; flushing sends the header with 200.
func TestStatusWriterFlushes(t *testing.T) {
	for name, flush := range map[string]func(w http.ResponseWriter) error{
		"http.Flusher": func(w http.ResponseWriter) error {
			f, ok := w.(http.Flusher)
			if !ok {
				t.Fatal("not an http.Flusher")
			}
			f.Flush()
			return nil
		},
		"http.ResponseController": func(w http.ResponseWriter) error { return http.NewResponseController(w).Flush() },
	} {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			sw := &statusWriter{ResponseWriter: rec}
			if _, err := sw.Write([]byte("data: 1\n\n")); err != nil {
				t.Fatal(err)
			}
			if err := flush(sw); err != nil {
				t.Fatal(err)
			}
			if !rec.Flushed || sw.status != http.StatusOK {
				t.Errorf("flushed %v, status %d; want flushed, 200", rec.Flushed, sw.status)
			}
		})
	}
}
