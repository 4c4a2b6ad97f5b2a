package httpapi

import (
	"context"

	"github.com/ordergate/ordergate/domain"
)

// WebhookRequest is the body of POST /webhooks.
type WebhookRequest struct {
	URL string `json:"url" doc:"The endpoint's URL: http or https, absolute, without user information or a fragment, at most 2048 bytes. Hosts that resolve to loopback, private or link-local addresses are refused." example:"https://example.com/ordergate/events"`
}

// NewWebhook is a registered endpoint with its secret, as create-webhook
// returns it: the only time the secret is shown.
type NewWebhook struct {
	ID        string    `json:"id" doc:"The endpoint's ID." example:"wh_8f3a1c0e5b7d2a94"`
	URL       string    `json:"url" doc:"The endpoint's URL, as registered." example:"https://example.com/ordergate/events"`
	Secret    string    `json:"secret" doc:"The signing secret (Standard Webhooks): whsec_ and the base64 of 32 random bytes. Shown only now: keep it to verify the webhook-signature of each delivery." example:"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"`
	CreatedAt Timestamp `json:"created_at" doc:"When the endpoint was registered, RFC 3339 in UTC." example:"2026-11-24T10:15:30.123456Z"`
}

// Webhook is a registered endpoint as list-webhooks returns it: never
// with its secret.
type Webhook struct {
	ID         string     `json:"id" doc:"The endpoint's ID." example:"wh_8f3a1c0e5b7d2a94"`
	URL        string     `json:"url" doc:"The endpoint's URL, as registered." example:"https://example.com/ordergate/events"`
	CreatedAt  Timestamp  `json:"created_at" doc:"When the endpoint was registered, RFC 3339 in UTC." example:"2026-11-24T10:15:30.123456Z"`
	DisabledAt *Timestamp `json:"disabled_at" nullable:"true" doc:"When deliveries to the endpoint stopped because it answered 410 Gone; null while it is enabled. Delete it and register it again to receive events again." example:"2026-11-25T08:00:00.000000Z"`
}

// WebhookList is an account's endpoints.
type WebhookList struct {
	Webhooks []Webhook `json:"webhooks" nullable:"false" doc:"The account's endpoints, oldest first, disabled ones included."`
}

// CreateWebhookInput is the request of create-webhook.
type CreateWebhookInput struct {
	Body WebhookRequest
}

// CreateWebhookOutput is the 201 answer of create-webhook.
type CreateWebhookOutput struct {
	Body NewWebhook
}

// ListWebhooksOutput is the answer of list-webhooks.
type ListWebhooksOutput struct {
	Body WebhookList
}

// DeleteWebhookInput is the request of delete-webhook.
type DeleteWebhookInput struct {
	ID string `path:"id" doc:"ID of the endpoint to remove." example:"wh_8f3a1c0e5b7d2a94"`
}

func toWebhook(w domain.Webhook) Webhook {
	out := Webhook{ID: string(w.ID), URL: w.URL, CreatedAt: Timestamp(w.CreatedAt)}
	if !w.DisabledAt.IsZero() {
		t := Timestamp(w.DisabledAt)
		out.DisabledAt = &t
	}
	return out
}

func (h *handlers) createWebhook(ctx context.Context, in *CreateWebhookInput) (*CreateWebhookOutput, error) {
	acct, err := account(ctx)
	if err != nil {
		return nil, problem(ctx, h.log, "create-webhook", "header", err)
	}
	w, err := h.svc.CreateWebhook(ctx, acct, in.Body.URL)
	if err != nil {
		return nil, problem(ctx, h.log, "create-webhook", "body", err)
	}
	return &CreateWebhookOutput{Body: NewWebhook{ID: string(w.ID), URL: w.URL, Secret: w.Secret, CreatedAt: Timestamp(w.CreatedAt)}}, nil
}

func (h *handlers) listWebhooks(ctx context.Context, _ *struct{}) (*ListWebhooksOutput, error) {
	acct, err := account(ctx)
	if err != nil {
		return nil, problem(ctx, h.log, "list-webhooks", "header", err)
	}
	ws, err := h.svc.Webhooks(ctx, acct)
	if err != nil {
		return nil, problem(ctx, h.log, "list-webhooks", "header", err)
	}
	out := &ListWebhooksOutput{Body: WebhookList{Webhooks: make([]Webhook, len(ws))}}
	for i, w := range ws {
		out.Body.Webhooks[i] = toWebhook(w)
	}
	return out, nil
}

func (h *handlers) deleteWebhook(ctx context.Context, in *DeleteWebhookInput) (*struct{}, error) {
	acct, err := account(ctx)
	if err != nil {
		return nil, problem(ctx, h.log, "delete-webhook", "header", err)
	}
	if err := h.svc.DeleteWebhook(ctx, acct, domain.WebhookID(in.ID)); err != nil {
		return nil, problem(ctx, h.log, "delete-webhook", "path", err)
	}
	return nil, nil
}
