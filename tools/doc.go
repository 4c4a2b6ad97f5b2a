// Package tools pins the versions of the developer tools the Makefile
// builds into .tools/bin (golangci-lint, govulncheck, oapi-codegen and the
// vulnerability database indexer), apart from ordergate's own module so
// their dependencies never reach ordergate's go.sum. actionlint is pinned
// in tools/actionlint, a module of its own (see its doc.go).
package tools
