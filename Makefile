# ordergate: `make run` serves on the embedded SQLite default; `make test` runs
# every test (PostgreSQL ones too when ORDERGATE_TEST_POSTGRES_DSN is set).

GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
ARGS        ?=

# The race detector needs cgo and a C compiler; without them (a machine with
# only Go) the tests still run, without it.
RACE := $(shell [ "$$($(GO) env CGO_ENABLED)" = 1 ] && command -v "$$($(GO) env CC)" >/dev/null 2>&1 && echo -race)

.PHONY: run build test test-short lint generate openapi check-generate fuzz bench ci

## run: serve on 127.0.0.1:8080 with SQLite (ordergate.db) and the simulated exchange
run:
	$(GO) run ./cmd/ordergate $(ARGS)

## build: build the binary into bin/
build:
	$(GO) build -o bin/ordergate ./cmd/ordergate

## test: all tests, with the race detector where available
test:
	@[ -n "$(RACE)" ] || echo "note: no C compiler or cgo, running tests without -race"
	$(GO) test $(RACE) -count=1 -timeout 8m ./...

## test-short: skip the end-to-end tests that build and start the binary
test-short:
	$(GO) test $(RACE) -short -count=1 ./...

## lint: go vet, gofmt and staticcheck
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l .); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...

## generate: regenerate moq mocks and the committed OpenAPI document
generate:
	$(GO) generate ./...
	$(MAKE) openapi

## openapi: write openapi/openapi.yaml from the code
openapi:
	$(GO) run ./cmd/ordergate openapi > openapi/openapi.yaml.tmp
	mv openapi/openapi.yaml.tmp openapi/openapi.yaml

## check-generate: fail if generated files differ from what is committed
check-generate: generate
	@git diff --exit-code -- ports/mocks openapi || \
	  { echo "generated files are stale: run 'make generate' and commit"; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- ports/mocks openapi); \
	  if [ -n "$$untracked" ]; then echo "generated files not committed: $$untracked"; exit 1; fi

FUZZTIME ?= 15s

## fuzz: run each fuzz target for FUZZTIME (seed corpora run in every `make test`)
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParsePrice$$' -fuzztime $(FUZZTIME) ./domain
	$(GO) test -run '^$$' -fuzz '^FuzzParseISIN$$' -fuzztime $(FUZZTIME) ./domain
	$(GO) test -run '^$$' -fuzz '^FuzzPlaceOrderBody$$' -fuzztime $(FUZZTIME) ./adapters/httpapi

## bench: measure ordergate against its ceilings (BENCH_SHORT=1: a smoke run under a minute)
bench:
	$(GO) run ./cmd/ordergate-bench $(if $(BENCH_SHORT),--short) $(BENCH_ARGS)

## ci: what .ci/run runs once PostgreSQL is up
ci: lint check-generate test
	$(MAKE) fuzz FUZZTIME=10s
