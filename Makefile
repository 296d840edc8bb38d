# Quarry: the two set-up commands are `make demo` and `make test`.
JOBS ?= $(shell nproc)
BUILD_TYPE ?= Release
CMAKE_FLAGS ?=

.PHONY: all deps build demo test test-release test-asan test-fuzz bench bench-bm25 bench-ingest bench-ann bench-embed bench-cache bench-e2e bench-eval-hybrid clean

all: build

deps:
	@scripts/install-deps.sh build

build: deps
	@cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null
	@cmake --build build/release -j $(JOBS)
	@echo "built build/release/quarry"

demo: build
	@scripts/install-deps.sh demo
	@scripts/demo.sh

# The whole suite: Release tests, then the same tests under ASan+UBSan, then a
# short libFuzzer run of every fuzz target. All through ctest.
test: test-release test-asan test-fuzz

test-release: build
	@scripts/install-test-clients.sh
	cd build/release && ctest -j $(JOBS) --output-on-failure --timeout 900

test-asan: deps
	@cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQUARRY_SANITIZE=ON -DQUARRY_BENCH=OFF >/dev/null
	@cmake --build build/asan -j $(JOBS)
	cd build/asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest -j $(JOBS) --output-on-failure --timeout 1200

test-fuzz: deps
	@cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DQUARRY_FUZZ=ON >/dev/null
	@cmake --build build/fuzz -j $(JOBS)
	cd build/fuzz && ctest -j $(JOBS) --output-on-failure --timeout 300

bench: bench-bm25 bench-ingest

bench-bm25: build
	@scripts/install-deps.sh bench
	@bench/run_bm25.sh

bench-ingest: build
	@scripts/install-deps.sh bench
	@bench/run_ingest.sh

# Encoder throughput vs ONNX Runtime and PyTorch. QUICK=1: bge-small only (embed-quick.json).
bench-embed: build
	@scripts/install-deps.sh bench
	@bench/run_embed.sh $(if $(QUICK),--quick)

# ANN search vs hnswlib and FAISS. QUICK=1: the short run (ann-quick.json).
bench-ann: build
	@scripts/install-deps.sh bench
	@bench/run_ann.sh $(if $(QUICK),--quick)

# The layered cache: hit rate on a Zipf query log, hit/miss latency, re-ingest
# from the chunk-embedding cache, two processes sharing Redis. QUICK=1: 4,000 requests.
bench-cache: build
	@scripts/install-deps.sh bench
	@bench/run_cache.sh $(if $(QUICK),--quick)

# `quarry serve` under 128 clients: hybrid search, /v1/embeddings, search with a
# concurrent writer (quarry_load_gen; wrk as a cross-check). The 100k-chunk
# collection is built once into build/bench-data/. QUICK=1: 10k chunks, 15 s
# per phase (load-quick.json).
bench-load: build
	@scripts/install-deps.sh bench
	@bench/run_load.sh $(if $(QUICK),--quick)

# Hybrid search end to end at 1M chunks (QUICK=1: 100k): p50/p99, RSS, ingest docs/hour.
bench-e2e: build
	@scripts/install-deps.sh bench
	@bench/run_e2e.sh $(if $(QUICK),--quick)

# SciFact quality of sparse, dense, hybrid (RRF k=2/60, DBSF, a weights sweep) and
# rerank on/auto through `quarry eval`. MODEL=DIR RERANKER=DIR: real model folders
# (default: random models with the real shapes). QUICK=1: 100 queries (eval-hybrid-quick.json).
bench-eval-hybrid: build
	@scripts/install-deps.sh bench
	@bench/run_eval_hybrid.sh $(if $(QUICK),--quick) $(if $(MODEL),--model $(MODEL)) $(if $(RERANKER),--reranker $(RERANKER))

clean:
	rm -rf build
