package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(config) bool
		wantErr string
	}{
		{name: "defaults match the contract", check: func(c config) bool {
			return c.Addr == "127.0.0.1:8080" && c.DB == "ordergate.db" && c.Exchange == "sim" &&
				c.SimFailureRate == 0.1 && c.SimLatency == 500*time.Millisecond && c.Role == "all" &&
				c.LogLevel == slog.LevelInfo && c.DispatchConcurrency >= 1
		}},
		{name: "env sets a value", env: map[string]string{"ORDERGATE_SIM_LATENCY": "2s", "ORDERGATE_ROLE": "api"}, check: func(c config) bool {
			return c.SimLatency == 2*time.Second && c.Role == "api"
		}},
		{name: "flag beats env", args: []string{"--addr", "127.0.0.1:9"}, env: map[string]string{"ORDERGATE_ADDR": "127.0.0.1:8"}, check: func(c config) bool {
			return c.Addr == "127.0.0.1:9"
		}},
		{name: "log level", args: []string{"--log-level", "debug"}, check: func(c config) bool { return c.LogLevel == slog.LevelDebug }},
		{name: "bad env value names the variable", env: map[string]string{"ORDERGATE_SIM_FAILURE_RATE": "lots"}, wantErr: "ORDERGATE_SIM_FAILURE_RATE"},
		{name: "failure rate above 1", args: []string{"--sim-failure-rate", "1.5"}, wantErr: "--sim-failure-rate"},
		{name: "unknown role", args: []string{"--role", "both"}, wantErr: "--role"},
		{name: "unknown exchange", args: []string{"--exchange", "nyse"}, wantErr: "--exchange"},
		{name: "zero concurrency", args: []string{"--dispatch-concurrency", "0"}, wantErr: "--dispatch-concurrency"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantErr: "log-level"},
		{name: "unknown flag", args: []string{"--colour"}, wantErr: "colour"},
		{name: "stray argument", args: []string{"now"}, wantErr: `"now"`},
		{name: "lease too short", args: []string{"--lease", "1s"}, wantErr: "--lease"},
		{name: "retry max below base", args: []string{"--retry-base", "2s", "--retry-max", "1s"}, wantErr: "--retry-max"},
		{name: "webhook retry max below base", args: []string{"--webhook-retry-base", "2s", "--webhook-retry-max", "1s"}, wantErr: "--webhook-retry-max"},
		{name: "webhook flags from env", env: map[string]string{"ORDERGATE_WEBHOOK_ALLOW_PRIVATE": "true", "ORDERGATE_WEBHOOK_RETRY_MAX": "5m"}, check: func(c config) bool {
			return c.WebhookAllowPrivate && c.WebhookRetryMax == 5*time.Minute && c.WebhookRetryBase == time.Second
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig("ordergate", tt.args, env(tt.env), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error = %v; want one line mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("config = %+v", c)
			}
		})
	}
}

// TestCommittedOpenAPIIsCurrent fails when openapi/openapi.yaml differs from
// what the code produces: run `make openapi` and commit.
func TestCommittedOpenAPIIsCurrent(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"openapi"}, env(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("../../openapi/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), committed) {
		t.Error("openapi/openapi.yaml is stale: run `make openapi` and commit the result")
	}
	if !strings.Contains(out.String(), "\nopenapi: 3.1") {
		t.Error("document is not OpenAPI 3.1")
	}
}

func TestMigrateCommand(t *testing.T) {
	db := t.TempDir() + "/m.db"
	for range 2 { // twice: the second run finds nothing to do
		if err := run(context.Background(), []string{"migrate", "--db", db}, env(nil), io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("migrate left no database: %v", err)
	}
}

// TestWiringIsValidForEveryRole checks the fx graph of each role without
// running any constructor.
func TestWiringIsValidForEveryRole(t *testing.T) {
	for _, role := range []string{roleAll, roleAPI, roleDispatcher} {
		t.Run(role, func(t *testing.T) {
			c, err := parseConfig("ordergate", []string{"--role", role}, env(nil), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if err := fx.ValidateApp(appOptions(c, slog.New(slog.NewTextHandler(io.Discard, nil)))...); err != nil {
				t.Errorf("role %s: %v", role, err)
			}
		})
	}
}
