// Package httpapi is ordergate's HTTP adapter, on Huma v2 and net/http. It
// lists every operation in Register, authenticates the order operations by
// API key (Authorization: Bearer <key>) and limits each key's rate, maps
// domain errors to status codes in one place (problem), answers RFC 9457
// problem documents for bad input and the contract's fixed JSON body for
// internal errors, and produces the OpenAPI document (OpenAPI).
package httpapi
