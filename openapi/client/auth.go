package client

import (
	"context"
	"net/http"
)

// This file is written by hand, not generated: oapi-codegen writes only
// client.gen.go.

// WithAPIKey sends key as Authorization: Bearer <key> with every request
// of the client. The order operations need it; the health operations
// ignore it. Keys come from `ordergate keys create --account NAME`.
func WithAPIKey(key string) ClientOption {
	return WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+key)
		return nil
	})
}
