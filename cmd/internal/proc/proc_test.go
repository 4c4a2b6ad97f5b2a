package proc

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// helperEnv makes the test binary play the process Start runs.
const helperEnv = "PROC_TEST_HELPER"

// TestMain turns the test binary into a small server stand-in when
// helperEnv is set: stdout lines before and after it logs that it listens,
// a last log line, then exit.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		for i := range 3 {
			fmt.Fprintf(os.Stdout, "out %d\n", i)
		}
		fmt.Fprintln(os.Stderr, `{"msg":"listening","addr":"127.0.0.1:1"}`)
		for i := 3; i < 500; i++ {
			fmt.Fprintf(os.Stdout, "out %d\n", i)
		}
		fmt.Fprintln(os.Stderr, `{"msg":"stopped"}`)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestStartPassesStdoutAndStderrLinesBeforeDone(t *testing.T) {
	var mu sync.Mutex
	var out, logs []string
	p, err := Start(os.Args[0], nil, Options{
		Env:    []string{helperEnv + "=1"},
		Wait:   10 * time.Second,
		Log:    func(line []byte) { mu.Lock(); logs = append(logs, string(line)); mu.Unlock() },
		Stdout: func(line []byte) { mu.Lock(); out = append(out, string(line)); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Addr(), "127.0.0.1:1"; got != want {
		t.Errorf("Addr = %q; want %q", got, want)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		p.Kill()
		t.Fatal("the helper did not exit")
	}
	mu.Lock()
	defer mu.Unlock()
	want := make([]string, 500)
	for i := range want {
		want[i] = fmt.Sprintf("out %d", i)
	}
	if !slices.Equal(out, want) {
		t.Errorf("stdout lines at Done: %d; want all 500, in order", len(out))
	}
	if len(logs) != 2 || !strings.Contains(logs[1], "stopped") {
		t.Errorf("stderr lines at Done = %q; want listening, then stopped", logs)
	}
}

func TestStartWithoutStdoutDiscardsIt(t *testing.T) {
	p, err := Start(os.Args[0], nil, Options{Env: []string{helperEnv + "=1"}, Wait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		p.Kill()
		t.Fatal("the helper did not exit")
	}
}
