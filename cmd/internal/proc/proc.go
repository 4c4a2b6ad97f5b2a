// Package proc builds and runs ordergate's binaries (ordergate,
// exchange-sim) as processes on loopback addresses, for the end-to-end
// tests and the benchmark: one harness for both. A process must log
// {"msg":"listening","addr":...} as a JSON line on stderr once it serves.
// Its stderr lines can be passed to Options.Log and its stdout lines to
// Options.Stdout; whatever no callback takes is read and discarded.
package proc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Build compiles the package pkg into dir/name and returns the binary's
// path.
func Build(dir, name, pkg string) (string, error) {
	bin := filepath.Join(dir, name)
	out, err := exec.CommandContext(context.Background(), "go", "build", "-o", bin, pkg).CombinedOutput() //nolint:gosec // the project's own packages
	if err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// Options tune Start.
type Options struct {
	// Env is added to the process's environment.
	Env []string
	// Log, if set, receives every line the process writes to stderr, in
	// order, from one goroutine. line is reused once Log returns.
	Log func(line []byte)
	// Stdout, if set, receives every line the process writes to stdout, in
	// order, from a goroutine of its own (not Log's): without it stdout is
	// discarded. line is reused once Stdout returns.
	Stdout func(line []byte)
	// Wait bounds the wait for "listening" (default 60 s).
	Wait time.Duration
}

// Process is a running binary.
type Process struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

// Start runs bin with --addr 127.0.0.1:0 and args, and returns once it
// logs that it listens. A process that exits first, or does not listen in
// time, is an error (and killed).
func Start(bin string, args []string, o Options) (*Process, error) {
	if o.Wait == 0 {
		o.Wait = 60 * time.Second
	}
	cmd := exec.CommandContext(context.Background(), bin, append([]string{"--addr", "127.0.0.1:0"}, args...)...) //nolint:gosec // the project's own binaries
	cmd.Env = append(os.Environ(), o.Env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	var stdout io.ReadCloser
	if o.Stdout != nil {
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	listening := make(chan string, 1)
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		waiting := true
		scanLines(stderr, func(line []byte) {
			if o.Log != nil {
				o.Log(line)
			}
			if !waiting {
				return
			}
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" {
				listening <- rec.Addr
				waiting = false // after this the lines are passed on, never parsed
			}
		})
	}()
	stdoutDone := make(chan struct{})
	go func() {
		defer close(stdoutDone)
		if stdout != nil {
			scanLines(stdout, o.Stdout)
		}
	}()
	go func() {
		// Wait closes the pipes, so it comes after the last line of each is
		// read: the lines a process writes as it stops are read before Done.
		<-logsDone
		<-stdoutDone
		_ = cmd.Wait()
		close(p.done)
	}()
	select {
	case p.addr = <-listening:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before listening (%s)", filepath.Base(bin), cmd.ProcessState)
	case <-time.After(o.Wait):
		p.Kill()
		return nil, fmt.Errorf("%s did not listen within %s", filepath.Base(bin), o.Wait)
	}
}

// scanLines passes each line r yields to f, then reads r to its end: a
// line longer than 1 MiB ends the lines, never the reading.
func scanLines(r io.Reader, f func(line []byte)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f(sc.Bytes())
	}
	_, _ = io.Copy(io.Discard, r)
}

// Addr returns the host:port the process serves on.
func (p *Process) Addr() string { return p.addr }

// URL returns http://addr followed by path.
func (p *Process) URL(path string) string { return "http://" + p.addr + path }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Pid returns the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM and waits up to limit for the process to exit. It
// returns an error if it did not, or exited with a status other than 0;
// one that does not exit in time is killed.
func (p *Process) Stop(limit time.Duration) error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
	case <-time.After(limit):
		p.Kill()
		return fmt.Errorf("did not exit within %s of SIGTERM", limit)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("exited with %d after SIGTERM; want 0", code)
	}
	return nil
}

// Kill sends SIGKILL, as a crash would, and waits for the process to end.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// PeakRSS returns the process's peak resident set size (VmHWM) in bytes,
// -1 if it cannot be read.
func (p *Process) PeakRSS() int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return -1
}
