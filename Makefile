# ordergate: `make run` serves on the embedded SQLite default; `make test` runs
# every test (PostgreSQL ones too when ORDERGATE_TEST_POSTGRES_DSN is set).

GO          ?= go
ARGS        ?=

# Build with the patched toolchain go.mod names (go1.26.10: fixes for
# net/http, crypto/tls, crypto/x509 and html/template that govulncheck
# reports in go1.26.8), downloaded through the module proxy when the local
# Go is older. A GOTOOLCHAIN set in the environment wins.
GOTOOLCHAIN ?= auto
export GOTOOLCHAIN

# Developer tools, pinned in tools/go.mod and built into .tools/bin.
TOOLS      := $(CURDIR)/.tools/bin
GOLANGCI   := $(TOOLS)/golangci-lint
GOVULN     := $(TOOLS)/govulncheck
OAPI       := $(TOOLS)/oapi-codegen
INDEXDB    := $(TOOLS)/indexdb
ACTIONLINT := $(TOOLS)/actionlint
# Redocly CLI from the npm registry, installed into .tools/node.
REDOCLY_VERSION ?= 2.77.0
REDOCLY    := $(CURDIR)/.tools/node/node_modules/.bin/redocly

# The race detector needs cgo and a C compiler; without them (a machine with
# only Go) the tests still run, without it.
RACE := $(shell [ "$$($(GO) env CGO_ENABLED)" = 1 ] && command -v "$$($(GO) env CC)" >/dev/null 2>&1 && echo -race)

.PHONY: run build test test-short lint golangci-lint fmt-check vulncheck openapi-lint actionlint tools generate openapi client check-generate docs-ui check-docs-ui docker-binaries fuzz bench ci

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

## lint: go vet, gofmt, golangci-lint (.golangci.yml), govulncheck, the OpenAPI lint and actionlint
lint: fmt-check golangci-lint vulncheck openapi-lint actionlint
	$(GO) vet ./...

## fmt-check: fail if gofmt or goimports would change a file
fmt-check: $(GOLANGCI)
	@out=$$(gofmt -l .); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GOLANGCI) fmt --diff ./...

## golangci-lint: the linters .golangci.yml enables
golangci-lint: $(GOLANGCI)
	$(GOLANGCI) run ./...

# The vulnerability database comes from the golang.org/x/vulndb module at the
# version tools/go.mod pins (through the Go module proxy), indexed locally:
# reproducible, and it works where vuln.go.dev is out of reach.
VULNDB := $(CURDIR)/.tools/vulndb
$(VULNDB)/index/db.json: tools/go.mod | $(INDEXDB)
	rm -rf $(VULNDB)
	cd tools && $(GO) mod download golang.org/x/vulndb
	$(INDEXDB) -vulns "$$(cd tools && $(GO) list -m -f '{{.Dir}}' golang.org/x/vulndb)/data/osv" -out $(VULNDB)

## vulncheck: govulncheck against the pinned vulnerability database
vulncheck: $(GOVULN) $(VULNDB)/index/db.json
	$(GOVULN) -db file://$(VULNDB) ./...

## openapi-lint: Redocly CLI lints openapi/openapi.yaml (redocly.yaml)
openapi-lint: $(REDOCLY)
	$(REDOCLY) lint --config redocly.yaml openapi/openapi.yaml

## actionlint: lint the GitHub Actions workflows (.github/workflows), with shellcheck on their scripts where it is installed
actionlint: $(ACTIONLINT)
	$(ACTIONLINT)

$(REDOCLY):
	npm install --silent --no-audit --no-fund --prefix .tools/node @redocly/cli@$(REDOCLY_VERSION)

## tools: build the pinned developer tools into .tools/bin
tools: $(GOLANGCI) $(GOVULN) $(OAPI) $(INDEXDB) $(ACTIONLINT)

TOOL_PKGS := github.com/golangci/golangci-lint/v2/cmd/golangci-lint golang.org/x/vuln/cmd/govulncheck \
	github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen golang.org/x/vulndb/cmd/indexdb
$(GOLANGCI) $(GOVULN) $(OAPI) $(INDEXDB) &: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o $(TOOLS)/ $(TOOL_PKGS)
	touch $(GOLANGCI) $(GOVULN) $(OAPI) $(INDEXDB)

# actionlint has a module of its own, tools/actionlint (see its doc.go).
$(ACTIONLINT): tools/actionlint/go.mod tools/actionlint/go.sum
	cd tools/actionlint && $(GO) build -o $(TOOLS)/ github.com/rhysd/actionlint/cmd/actionlint
	touch $(ACTIONLINT)

# The container image's binaries: static (modernc.org/sqlite is pure Go, so
# no C library is needed), without file paths or symbol tables. The
# Dockerfile builds them with this target, and .ci/run does too, so the
# flags live here alone and CI checks the build the image makes.
DOCKER_OUT ?= bin/docker
## docker-binaries: build ordergate and exchange-sim as the Dockerfile does, into $(DOCKER_OUT)
docker-binaries:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(DOCKER_OUT)/ ./cmd/ordergate ./cmd/exchange-sim

## generate: regenerate moq mocks, the committed OpenAPI document and its Go client
generate:
	$(GO) generate ./...
	$(MAKE) openapi client

## client: generate the Go client in openapi/client from openapi/openapi.yaml
client: $(OAPI)
	$(OAPI) -config openapi/client/oapi-codegen.yaml openapi/openapi.yaml

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

# Fuzz budgets are execution counts, not durations: with a duration, Go's
# fuzz coordinator can report a spurious "context deadline exceeded" failure
# as the time runs out (golang/go#75804, unfixed in Go 1.26), which CI hit.
# The defaults take about 5 s per target on the 2-core development machine;
# the request decoder runs about ten times fewer inputs a second.
FUZZ_EXECS       ?= 200000x
FUZZ_EXECS_BODY  ?= 40000x
FUZZ_EXECS_APPLY ?= 75000x
FUZZ_EXECS_AUTH  ?= 100000x

# The /docs renderer: Stoplight Elements (Huma's own default) from the npm
# registry, at this version, checked against npm's integrity (dist.integrity,
# the sha512 of the tarball) and vendored into adapters/httpapi/docsui, where
# go:embed puts it in the binary: /docs works offline and `go build` needs no
# npm. A Go test checks the committed files against docsui/SHA256SUMS, which
# this target writes. (Redoc was tried first: its side menu loads a logo from
# cdn.redoc.ly whatever the options, which the browser test caught.)
ELEMENTS_VERSION   := 9.0.25
ELEMENTS_INTEGRITY := sha512-rDbNsgSCNo74lyV57cBzym+8F68/R2j7UPq4r3w5qK608vX8APNJhTq+2MkbTjsM3bUhFIoRdI225tlI85KpCA==
NPM_REGISTRY       ?= https://registry.npmjs.org
DOCSUI             := adapters/httpapi/docsui
DOCSUI_FILES       := web-components.min.js web-components.min.js.LICENSE.txt styles.min.css LICENSE

## docs-ui: download Stoplight Elements $(ELEMENTS_VERSION) from the npm registry, check its integrity and vendor it into adapters/httpapi/docsui
docs-ui:
	@set -eu; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  curl -fsSL -o "$$tmp/elements.tgz" "$(NPM_REGISTRY)/@stoplight/elements/-/elements-$(ELEMENTS_VERSION).tgz"; \
	  got="sha512-$$(openssl dgst -sha512 -binary "$$tmp/elements.tgz" | openssl base64 -A)"; \
	  if [ "$$got" != "$(ELEMENTS_INTEGRITY)" ]; then echo "elements-$(ELEMENTS_VERSION).tgz is $$got; want $(ELEMENTS_INTEGRITY)"; exit 1; fi; \
	  tar -xzf "$$tmp/elements.tgz" -C "$$tmp" $(addprefix package/,$(DOCSUI_FILES)); \
	  for f in $(DOCSUI_FILES); do cp "$$tmp/package/$$f" $(DOCSUI)/; done; \
	  cd $(DOCSUI) && { echo "# @stoplight/elements $(ELEMENTS_VERSION) $(ELEMENTS_INTEGRITY): written by make docs-ui"; \
	    sha256sum $(DOCSUI_FILES); } > SHA256SUMS
	@echo "vendored @stoplight/elements $(ELEMENTS_VERSION) into $(DOCSUI)"

## check-docs-ui: fail if the vendored renderer is not exactly Stoplight Elements $(ELEMENTS_VERSION) from the registry (needs the npm registry)
check-docs-ui: docs-ui
	@git diff --exit-code -- $(DOCSUI) || \
	  { echo "$(DOCSUI) is not @stoplight/elements $(ELEMENTS_VERSION): run 'make docs-ui' and commit"; exit 1; }

## fuzz: run each fuzz target for its execution budget (seed corpora run in every `make test`): the price and ISIN parsers, the request decoder, the Authorization header's parser, and the lifecycle's Apply
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParsePrice$$' -fuzztime $(FUZZ_EXECS) ./domain
	$(GO) test -run '^$$' -fuzz '^FuzzParseISIN$$' -fuzztime $(FUZZ_EXECS) ./domain
	$(GO) test -run '^$$' -fuzz '^FuzzPlaceOrderBody$$' -fuzztime $(FUZZ_EXECS_BODY) ./adapters/httpapi
	$(GO) test -run '^$$' -fuzz '^FuzzApply$$' -fuzztime $(FUZZ_EXECS_APPLY) ./domain
	$(GO) test -run '^$$' -fuzz '^FuzzBearerHeader$$' -fuzztime $(FUZZ_EXECS_AUTH) ./adapters/httpapi

## bench: measure ordergate against its ceilings (BENCH_SHORT=1: a smoke run under a minute)
bench:
	$(GO) run ./cmd/ordergate-bench $(if $(BENCH_SHORT),--short) $(BENCH_ARGS)

## ci: the Makefile's part of .ci/run, once PostgreSQL, Chromium and pre-commit are there (.ci/run also runs pre-commit and the benchmark smoke run)
ci: lint check-generate check-docs-ui test
	$(MAKE) fuzz
	.ci/check-image-binaries
