# `make test` is what CI runs (.ci/run): vet and staticcheck, format check, the full test
# suite with the race detector, then every fuzz target for a bounded time.
GO ?= go
# Fuzzing is bounded by a count of inputs, not a duration: with -fuzztime
# as a duration, Go 1.26's fuzz coordinator can fail a target with a bare
# "context deadline exceeded" and no failing input (golang/go#75804, fixed
# in Go 1.27), and it did in CI.
FUZZTIME ?= 30000x

.PHONY: test deps vet fmt unit fuzz build run

test: deps vet fmt unit fuzz

# Installs and starts what the tests talk to (nginx, ...); see the script.
deps:
	./scripts/test-deps.sh

build:
	CGO_ENABLED=0 $(GO) build -o latchkey ./cmd/latchkey

run:
	$(GO) run ./cmd/latchkey serve

# staticcheck is pinned and fetched from the module proxy; it is no
# dependency of the module.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

vet:
	$(GO) vet ./...
	$(GO) vet -tags pprof ./cmd/latchkey
	$(GO) run $(STATICCHECK) ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test -race -count=1 ./...

# Each fuzz target runs on its own: go test -fuzz takes one target at a time.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done
