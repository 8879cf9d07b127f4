# Tern — `make run` opens the app, `make test` runs every test tier.
# Both install what is missing first (one shared `make deps`), saying what
# they do; on Debian/Ubuntu they use apt (with sudo when not root).

SHELL      := /bin/bash
.SHELLFLAGS := -o pipefail -c
GO         ?= go
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -X main.version=$(VERSION)
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FUZZTIME   ?= 10s
export TERN_PYTHON := $(CURDIR)/.venv/bin/python
# Builds and tests run on Go 1.27.3, which the go command fetches through the
# module proxy on first use (about 10 s): go1.26.8's standard library has
# vulnerabilities that Tern's call paths reach (net/http, crypto/tls,
# crypto/x509, html/template; govulncheck names them) and the newer 1.26
# patch releases are not served here. GOTOOLCHAIN=local make … uses your Go.
export GOTOOLCHAIN ?= go1.27.3

APT_BUILD := build-essential pkg-config libgtk-3-dev libwebkit2gtk-4.1-dev
APT_TEST  := xvfb xauth x11-utils imagemagick tesseract-ocr chromium docker.io debootstrap python3-venv xfsprogs

# timed NAME COMMAND: runs a tier and prints how long it took.
define timed
@echo "━━ $(1)"; s=$$(date +%s); $(2); rc=$$?; echo "━━ $(1): $$(( $$(date +%s) - s ))s$$( [ $$rc = 0 ] || echo ", FAILED ($$rc)")"; exit $$rc
endef

.PHONY: runtime run deps deps-test deps-apt-build deps-apt-test deps-toolchain docker-up build frontend \
        bindings test test-go test-frontend test-e2e fuzz bench clean \
        sklearn-base vuln-db

## run: build everything and open the desktop window
run: deps build
	./build/bin/tern

## deps: what building needs — toolchain check, apt packages, npm packages, the pinned Wails CLI
deps: deps-toolchain deps-apt-build frontend/node_modules/.stamp bin/wails

deps-toolchain:
	@command -v $(GO) >/dev/null || { echo "Tern needs Go 1.26 or newer: https://go.dev/dl/"; exit 1; }
	@$(GO) version | awk '{split($$3,v,"[go.]"); if (v[3]+0 < 1 || (v[3]==1 && v[4]+0 < 26)) {print "Tern needs Go 1.26 or newer; found " $$3; exit 1}}'
	@command -v node >/dev/null || { echo "Tern needs Node.js 20 or newer (and npm)"; exit 1; }
	@node -e 'if (+process.versions.node.split(".")[0] < 20) { console.log("Tern needs Node.js 20 or newer; found " + process.version); process.exit(1) }'

# apt-install PACKAGES: installs the ones missing, on Debian/Ubuntu.
define apt-install
@if [ "$$(uname)" != Linux ]; then echo "Not Linux: install $(1) (or their equivalents) yourself"; exit 0; fi; \
missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
if [ -n "$$missing" ]; then \
  command -v apt-get >/dev/null || { echo "Please install:$$missing"; exit 1; }; \
  echo "Installing with apt:$$missing"; \
  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
fi
endef

deps-apt-build:
	$(call apt-install,$(APT_BUILD))

deps-apt-test:
	$(call apt-install,$(APT_TEST))

frontend/node_modules/.stamp: frontend/package.json frontend/package-lock.json
	@echo "Installing frontend packages (npm ci)"
	cd frontend && npm ci --no-audit --no-fund
	@touch $@

# The Wails CLI, pinned, built from build/wails-cli (see its go.mod for why).
bin/wails: build/wails-cli/go.mod build/wails-cli/go.sum
	@echo "Building the pinned Wails CLI (v2.9.2)"
	cd build/wails-cli && $(GO) build -o ../../bin/wails github.com/wailsapp/wails/v2/cmd/wails

## deps-test: deps, plus Xvfb, Chromium, a running Docker engine, and the Python test packages
deps-test: deps deps-apt-test docker-up .venv/.stamp sklearn-base vuln-db

# govulncheck (pinned) and its database, built offline from the pinned
# golang.org/x/vulndb module: vuln.go.dev is not reachable here or in CI.
vuln-db:
	@bash .ci/govulncheck.sh db

docker-up:
	@if docker version >/dev/null 2>&1; then \
	  echo "Docker engine $$(docker version --format '{{.Server.Version}}') is running"; \
	elif [ "$$(uname)" = Linux ]; then \
	  echo "Starting the Docker engine"; \
	  if [ -d /run/systemd/system ]; then $(SUDO) systemctl start docker; \
	  else $(SUDO) sh -c 'nohup dockerd > /var/log/tern-dockerd.log 2>&1 &'; fi; \
	  for i in $$(seq 60); do docker version >/dev/null 2>&1 && break; sleep 1; done; \
	  docker version --format 'Docker engine {{.Server.Version}} is up' || { echo "dockerd did not start:"; $(SUDO) tail -20 /var/log/tern-dockerd.log; exit 1; }; \
	else echo "Start Docker Desktop to run the Docker tests"; fi

# The Python + scikit-learn image the sklearn template test trains on, built
# without a registry (debootstrap + docker import; ~100 s the first time,
# then the cached root filesystem is only imported, or nothing is done).
sklearn-base: docker-up
	@bash backend/runner/templates/sklearn/build-base.sh

.venv/.stamp: .ci/python-test.txt
	@echo "Creating .venv with the Python packages the tests call"
	python3 -m venv .venv
	.venv/bin/pip install -q --disable-pip-version-check -r .ci/python-test.txt
	@touch $@

## build: the frontend, bin/tern (browser mode, tests) and build/bin/tern (desktop window)
build: frontend bin/tern build/bin/tern

frontend: frontend/node_modules/.stamp
	cd frontend && npm run build --silent

bin/tern: frontend runtime FORCE
	$(GO) build -tags ternembed -ldflags "$(LDFLAGS)" -o bin/tern .

build/bin/tern: bin/wails frontend runtime FORCE
	./bin/wails build -m -s -skipbindings -tags "webkit2_41 ternembed" -ldflags "$(LDFLAGS)"

# The static runtime that runs inside training and serving containers (and
# as a local process without Docker). It is embedded in the app
# (-tags ternembed) and written into the data dir on first use, so one
# binary is all a person installs.
runtime: FORCE
	CGO_ENABLED=0 $(GO) build -ldflags "-X main.version=$(VERSION)" -o backend/runner/runtimebin/tern-runtime ./backend/cmd/tern-runtime

FORCE:

## bindings: regenerate frontend/src/lib/api/bindings.gen.ts, the TypeScript types of the bound methods (app.Bindings), from the Go types
BINDINGS_TS := frontend/src/lib/api/bindings.gen.ts
bindings:
	$(GO) run ./app/cmd/tern-bindings -o $(BINDINGS_TS)

## test: every tier — Go unit+integration (incl. the real window under Xvfb), vitest, browser e2e, fuzzing
test:
	$(call timed,deps,$(MAKE) --no-print-directory deps-test)
	$(call timed,build,$(MAKE) --no-print-directory build)
	$(call timed,frontend types + unit (svelte-check + vitest),$(MAKE) --no-print-directory test-frontend)
	$(call timed,go (unit + integration + desktop window),$(MAKE) --no-print-directory test-go)
	$(call timed,browser e2e (Chromium),$(MAKE) --no-print-directory test-e2e)
	$(call timed,fuzz ($(FUZZTIME) per target),$(MAKE) --no-print-directory fuzz)

test-go:
	@bad=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$bad" ] || { echo "gofmt needed: $$bad"; exit 1; }
	$(GO) vet ./...
	@GO=$(GO) bash .ci/govulncheck.sh
	TERN_BIN=$(CURDIR)/bin/tern TERN_DESKTOP_BIN=$(CURDIR)/build/bin/tern $(GO) test -timeout 30m -count=1 ./...

# Fails when the Go types of a bound method changed and `make bindings` was not run.
test-frontend: bindings
	@stale=$$(git status --porcelain -- $(BINDINGS_TS)); [ -z "$$stale" ] || { git diff --stat -- $(BINDINGS_TS); echo "$(BINDINGS_TS) is stale or not committed: run 'make bindings' and commit it"; exit 1; }
	cd frontend && npx svelte-check --tsconfig ./tsconfig.json --output human && npx vitest run

test-e2e:
	cd frontend && TERN_BIN=$(CURDIR)/bin/tern node e2e/run.mjs

# Every FuzzXxx in the tree, each for FUZZTIME (their seed corpora also run in test-go).
fuzz:
	@grep -rl --include='*_test.go' '^func Fuzz' backend | xargs -n1 dirname | sort -u | while read -r pkg; do \
	  for f in $$(grep -h '^func Fuzz' $$pkg/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "fuzz ./$$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./$$pkg >/tmp/tern-fuzz.log 2>&1 || { cat /tmp/tern-fuzz.log; exit 1; }; \
	  done; \
	done

## bench: every benchmark; each prints BENCH <name> ours=… peer=… unit=… ratio=…
bench: bench-store bench-drift bench-training bench-datasets bench-serving bench-tracking bench-explain bench-sweep bench-pipelines bench-governance

# bench-NAME runs bench/NAME/run.sh (bench-serving: LOG_SECONDS=10 for a
# quick run; the reported figure is the default 60 s).
bench-%:
	@bash bench/$*/run.sh

clean:
	rm -rf bin build/bin frontend/dist test-output
