# rayfleet: `make run` runs it, `make test` runs every test.
GO        ?= go
GOFLAGS   ?= -buildvcs=false
BIN       ?= bin/rayfleet
GOLANGCI_LINT ?= $(shell command -v golangci-lint 2>/dev/null || echo $(shell go env GOPATH)/bin/golangci-lint)
LINT_VERSION = v2.15.0
export GOFLAGS

.PHONY: build run test test-fast test-python test-short check lint vet fmt bench-list postgres pyenv clean

build:
	$(GO) build -o $(BIN) ./cmd/rayfleet

run:
	$(GO) run ./cmd/rayfleet server

# The whole test suite: sets up what it needs (PostgreSQL, the test
# Kubernetes stack, Chromium, real Ray and the product's Python SDK; each
# step skipped when done), then runs every Go test with the race detector
# and the Python SDK suite. See scripts/test.sh.
test:
	scripts/test.sh

# The product's official Python SDK against a real server running real Ray
# (test/sdk) alone, in the Python environment scripts/pyenv.sh makes on
# first use; make test runs it too.
test-python:
	"$$(scripts/pyenv.sh | tail -n1)/bin/pytest" -q test/sdk

# The edit-test loop: Go tests only, no setup, no race detector. Tests that
# need what is not set up skip and say so.
test-fast:
	$(GO) test -count=1 ./...

test-short: test-fast

pyenv:
	@scripts/pyenv.sh

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w .

lint:
	@test -x "$(GOLANGCI_LINT)" || $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(LINT_VERSION)
	$(GOLANGCI_LINT) run ./...

check: vet lint
	@test -z "$$(gofmt -l .)" || (echo "gofmt would change:"; gofmt -l .; exit 1)

bench-list:
	$(GO) run ./bench/list

postgres:
	@scripts/postgres.sh

clean:
	rm -rf bin
