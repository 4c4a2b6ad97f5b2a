package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkServerPOST runs the whole fx application in-process (SQLite,
// dispatcher against the simulator at its defaults, metrics, access log)
// and POSTs orders to it over loopback from parallel clients. It exists for
// profiles of the real request path:
//
//	go test -run '^$' -bench ServerPOST -benchtime 20000x -cpu 2 -cpuprofile cpu.out ./cmd/ordergate
//	go tool pprof -top cpu.out
func BenchmarkServerPOST(b *testing.B) {
	// No rate limit: the benchmark measures the request path, at rates far
	// above one key's default limit.
	api := startInProcess(b, []string{"--rate-limit", "0"})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	const body = `{"type":"limit","side":"buy","instrument":"US0378331005","limit_price":123.45,"quantity":10}`
	b.SetParallelism(32) // 64 clients at -cpu 2, as make bench uses
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := api.send(client, http.MethodPost, "/orders", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("POST /orders = %d", resp.StatusCode)
				return
			}
		}
	})
}
