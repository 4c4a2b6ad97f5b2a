package envflag_test

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ordergate/ordergate/cmd/internal/envflag"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    time.Duration
		wantErr string
	}{
		{name: "default", want: time.Second},
		{name: "from the environment", env: map[string]string{"X_RETRY_BASE": "2s"}, want: 2 * time.Second},
		{name: "the command line wins", env: map[string]string{"X_RETRY_BASE": "2s"}, args: []string{"--retry-base", "3s"}, want: 3 * time.Second},
		{name: "a bad value names the variable", env: map[string]string{"X_RETRY_BASE": "soon"}, wantErr: "X_RETRY_BASE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			got := fs.Duration("retry-base", time.Second, "")
			err := envflag.Parse(fs, "X_", tt.args, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %v; want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || *got != tt.want {
				t.Errorf("Parse = %v, %v; want %v", *got, err, tt.want)
			}
		})
	}
}
