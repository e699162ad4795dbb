# coderun-webhook: `make run` starts the webhook with development certificates, `make test` runs every test.
SHELL := /bin/bash
BUILD ?= build
JOBS ?= $(shell nproc)
PORT ?= 8443
CERTS ?= $(BUILD)/dev-certs
APT_PACKAGES := g++ cmake make pkg-config libcpp-httplib-dev libssl-dev nlohmann-json3-dev \
  libspdlog-dev libyaml-cpp-dev libyaml-dev prometheus-cpp-dev libsimdjson-dev catch2 openssl curl jq python3 python3-jsonpatch \
  python3-jsonschema python3-yaml python3-prometheus-client clang libclang-rt-14-dev etcd-server
VALIJSON_DIR := $(BUILD)/_deps/valijson

.PHONY: all deps build run test e2e unit clean certs sanitize fuzz soak memtest bench ci
.PHONY: image image-deps image-test promtool monitoring-check
.PHONY: e2e-cluster mutation

all: build

# Installs what is missing from Debian (the machines run as root), then extracts valijson's headers.
deps: $(BUILD)/.deps-ok
$(BUILD)/.deps-ok:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@if [ ! -f $(VALIJSON_DIR)/usr/include/valijson/validator.hpp ]; then \
	  mkdir -p $(VALIJSON_DIR) && tmp=$$(mktemp -d) && \
	  (cd $$tmp && (apt-get download libvalijson-dev >/dev/null 2>&1 || (apt-get update -qq && apt-get download libvalijson-dev))) && \
	  dpkg-deb -x $$tmp/libvalijson-dev_*.deb $(VALIJSON_DIR) && rm -rf $$tmp; \
	fi
	@mkdir -p $(BUILD) && touch $@

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

certs: deps
	certs/make-certs.sh --out $(CERTS) --service coderun-webhook --namespace coderun-webhook --ip 127.0.0.1 --dns localhost

run: build certs
	$(BUILD)/coderun-webhook serve --addr 127.0.0.1 --port $(PORT) \
	  --cert $(CERTS)/tls.crt --key $(CERTS)/tls.key \
	  --policy policy/policy.yaml --prompts-dir policy/prompts

test: build promtool
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

e2e: build
	cd $(BUILD) && ctest --output-on-failure -L e2e

# The whole suite behind a real kube-apiserver (v1.20.2 from ../shared/tools/, or KUBE_APISERVER) and
# Debian's etcd, all on loopback, driven with kubectl (tests/cluster; a few minutes). `make test`
# runs its short form (ctest cluster_short); both print "skipped" (exit 77) without the API server.
e2e-cluster: build
	CODERUN_BIN=$(BUILD)/coderun-webhook CODERUN_SOURCE_DIR=$(CURDIR) CODERUN_CLUSTER_CACHE=$(CURDIR)/$(BUILD) \
	  timeout 900 /usr/bin/python3 tests/cluster/test_cluster.py -v

# Mutation testing (tests/mutation): each mutation of tests/mutation/mutations.txt applied alone to
# a scratch copy of the tracked files in /tmp/coderun-mutation (never to this tree), rebuilt
# incrementally there, the unit tests then, for a mutant they miss, the fast e2e suites; prints
# each verdict and the score. MUTATION_ARGS: --only 3,17, --list, --max-minutes 30, --no-e2e,
# --rev HEAD. Not part of `make test`.
MUTATION_ARGS ?=
mutation: deps
	/usr/bin/python3 tests/mutation/mutate.py --repo-build $(BUILD) --jobs $(JOBS) $(MUTATION_ARGS)

# The whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer (gcc).
sanitize: deps promtool
	cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DCODERUN_SANITIZE=ON >/dev/null
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && PROMTOOL=$(CURDIR)/$(PROMTOOL) ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

# libFuzzer (clang, ASan + UBSan) over AdmissionReview decoding, the decision and the event
# resolver, seeded from tests/fixtures, for FUZZ_SECONDS; then over the HTTP request parser and
# the YAML converter (podSpecPatch) for a quarter of that each (-rss_limit_mb=512 there: any
# expansion would trip it). A crash is saved in $(BUILD)-fuzz/findings: copy it into
# tests/fuzz/regressions/ (or http-seeds/, yaml-seeds/) to keep it fixed.
FUZZ_SECONDS ?= 120
fuzz: deps
	CXX=clang++ cmake -S . -B $(BUILD)-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCODERUN_FUZZ=ON -DBUILD_TESTING=OFF \
	  -DCMAKE_CXX_COMPILER=clang++ >/dev/null
	cmake --build $(BUILD)-fuzz -j $(JOBS) --target fuzz_admission fuzz_http fuzz_yaml
	/usr/bin/python3 tests/fuzz/make_corpus.py tests/fixtures $(BUILD)-fuzz/seeds
	mkdir -p $(BUILD)-fuzz/corpus $(BUILD)-fuzz/findings
	$(BUILD)-fuzz/fuzz_admission -max_total_time=$(FUZZ_SECONDS) -max_len=131072 -timeout=10 -rss_limit_mb=2048 \
	  -artifact_prefix=$(BUILD)-fuzz/findings/ -print_final_stats=1 \
	  $(BUILD)-fuzz/corpus $(BUILD)-fuzz/seeds tests/fuzz/regressions
	mkdir -p $(BUILD)-fuzz/http-corpus
	$(BUILD)-fuzz/fuzz_http -max_total_time=$$(( $(FUZZ_SECONDS) / 4 + 1 )) -max_len=16384 -timeout=10 \
	  -artifact_prefix=$(BUILD)-fuzz/findings/ -print_final_stats=1 $(BUILD)-fuzz/http-corpus tests/fuzz/http-seeds
	mkdir -p $(BUILD)-fuzz/yaml-corpus
	$(BUILD)-fuzz/fuzz_yaml -max_total_time=$$(( $(FUZZ_SECONDS) / 4 + 1 )) -max_len=65536 -timeout=10 -rss_limit_mb=512 \
	  -artifact_prefix=$(BUILD)-fuzz/findings/ -print_final_stats=1 $(BUILD)-fuzz/yaml-corpus tests/fuzz/yaml-seeds

# The long soak: 60 s of concurrent keep-alive clients (SOAK_SECONDS, SOAK_CLIENTS).
SOAK_SECONDS ?= 60
SOAK_CLIENTS ?= 8
soak: build
	CODERUN_BIN=$(BUILD)/coderun-webhook CODERUN_SOURCE_DIR=$(CURDIR) CODERUN_FIXTURES_DIR=$(CURDIR)/tests/fixtures \
	  /usr/bin/python3 tests/soak/soak.py --seconds $(SOAK_SECONDS) --clients $(SOAK_CLIENTS)

# Bounded memory and time at the server's limits (issue 11), the full form: the real defaults
# (--max-connections connections holding unfinished 3 MiB bodies, ...), peak RSS under 128 MiB,
# no crash, every answer within 10 s. A few minutes; `make test` runs the short form (label memory).
memtest: build
	CODERUN_BIN=$(BUILD)/coderun-webhook CODERUN_SOURCE_DIR=$(CURDIR) \
	  /usr/bin/python3 tests/memory/memory_limits.py --full

# The benchmark: BENCH_SECONDS at concurrency 1 and 16, one line of figures, targets checked.
BENCH_SECONDS ?= 10
# The Go reference webhook (tests/bench/go-reference, standard library only) is measured in the same run.
bench: build
	@command -v go >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go
	CODERUN_BIN=$(BUILD)/coderun-webhook CODERUN_LOADGEN=$(BUILD)/tests/coderun-loadgen CODERUN_SOURCE_DIR=$(CURDIR) \
	  CODERUN_FIXTURES_DIR=$(CURDIR)/tests/fixtures /usr/bin/python3 tests/bench/bench.py --seconds $(BENCH_SECONDS) \
	  --compare-go

# The container image, built and run with podman from Debian's packages (no registry, no Docker):
# container/base.sh makes the Dockerfile's base (debian:bookworm-slim) with mmdebstrap once and
# keeps it; podman's layer cache makes a second `make image` quick. `make image-test` runs the image
# as manifests/base/deployment.yaml does (container/image_test.py). Not part of `make test`.
IMAGE ?= localhost/coderun-webhook:0.1.0
IMAGE_APT_PACKAGES := podman buildah mmdebstrap uidmap runc curl openssl python3 python3-yaml python3-jsonpatch
PODMAN_ENV := CONTAINERS_CONF=$(CURDIR)/container/containers.conf
image-deps:
	@missing=$$(for p in $(IMAGE_APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

image: image-deps
	$(PODMAN_ENV) container/base.sh
	$(PODMAN_ENV) podman build --pull=never --network host -t $(IMAGE) -t ghcr.io/myorg/coderun-webhook:0.1.0 .

image-test: image
	$(PODMAN_ENV) /usr/bin/python3 container/image_test.py --image $(IMAGE)

# promtool alone, from Debian's prometheus package (the package itself brings a daemon and
# JavaScript libraries), for the monitoring suite, which `make test` runs with it (a suite whose
# tests skip is reported as skipped, so the Makefile installs what it can).
PROMTOOL := $(BUILD)/_deps/prometheus/usr/bin/promtool
promtool: $(PROMTOOL)
$(PROMTOOL):
	mkdir -p $(BUILD)/_deps/prometheus && tmp=$$(mktemp -d) && \
	  (cd $$tmp && (apt-get download prometheus >/dev/null 2>&1 || (apt-get update -qq && apt-get download prometheus))) && \
	  dpkg-deb --fsys-tarfile $$tmp/prometheus_*.deb | tar -x -C $(BUILD)/_deps/prometheus ./usr/bin/promtool && rm -rf $$tmp
	$@ --version | head -1

monitoring-check: build promtool
	cd $(BUILD) && ctest --output-on-failure -R e2e_monitoring

# What CI runs: the tests, a bounded fuzz run, the sanitized tests (last, so ctest's summary
# closes the log).
ci: test
	$(MAKE) monitoring-check
	$(MAKE) fuzz FUZZ_SECONDS=60
	$(MAKE) sanitize

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz
