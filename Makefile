# rayfleet: `make run` runs it, `make test` runs every test.
GO        ?= go
GOFLAGS   ?= -buildvcs=false
BIN       ?= bin/rayfleet
GOLANGCI_LINT ?= $(shell command -v golangci-lint 2>/dev/null || echo $(shell go env GOPATH)/bin/golangci-lint)
LINT_VERSION = v2.15.0
export GOFLAGS

.PHONY: build run test test-short check lint vet fmt bench-list postgres clean

build:
	$(GO) build -o $(BIN) ./cmd/rayfleet

run:
	$(GO) run ./cmd/rayfleet server

# The whole test suite, with the race detector. PostgreSQL tests run when
# RAYFLEET_TEST_POSTGRES holds a DSN (scripts/postgres.sh starts one and
# prints it); .ci/run sets it.
test:
	$(GO) test -race -count=1 -timeout 20m ./...

test-short:
	$(GO) test -count=1 ./...

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
