// Package httpapi is ordergate's HTTP adapter, on Huma v2 and net/http. It
// lists every operation in Register, authenticates the order, event and
// webhook operations by API key (Authorization: Bearer <key>) and limits
// each key's rate, maps domain errors to status codes in one place
// (problem), answers RFC 9457 problem documents for bad input and the
// contract's fixed JSON body for internal errors, streams each account's
// order events as server-sent events from a Streamer (GET /events), renders
// an event the one way the stream, the webhooks and GET
// /orders/{id}/events share (EventJSON), and produces the OpenAPI document
// (OpenAPI).
package httpapi
