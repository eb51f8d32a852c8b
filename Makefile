# Jump Client: the two commands a newcomer needs are `make demo` and `make test`.

SWIFT      ?= swift
BUILD_DIR  := .build/debug
FUZZ_RUNS  ?= 1000000
FUZZ_DIR   := Fuzz
FUZZ_BUILD := $(FUZZ_DIR)/.build-fuzz

.PHONY: all build test demo agent fuzz bench protos-check clean help

all: build

help:
	@echo "make demo          build and show the three programs working"
	@echo "make test          install what the tests need, build, run every test"
	@echo "make agent         build the jump-agent to copy to endpoints (.build-agent/release/jump-agent)"
	@echo "make fuzz          run the protocol fuzzer for FUZZ_RUNS inputs (default $(FUZZ_RUNS))"
	@echo "make bench         run the quick benchmarks (Benchmarks/scale.sh --full for the scale figures)"
	@echo "make protos-check  check that the generated protobuf Swift matches jump.proto"

build:
	$(SWIFT) build

# The end-to-end tests wait for the programs they drive on the test process's threads; in a process of
# their own they cannot hold up the other tests' asynchronous work (2 threads on 2 cores), and one at a
# time their appliances and agents do not compete for the CPU their timings assume.
test:
	scripts/install-deps.sh test
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip EndToEndTests
	$(SWIFT) test --skip-build --filter EndToEndTests --no-parallel

# The agent to copy to endpoints: the Swift runtime and FoundationEssentials linked into the program,
# so an endpoint needs no Swift installation (only libc, libstdc++, libsystemd, libX11 and libjpeg from
# its distribution). Its own build folder: the other release builds keep theirs. Laid out for a small
# idle footprint: every function in a section of its own (file by file: whole-module builds ignore
# -function-sections), linked by the toolchain's lld with the functions an idle agent runs first
# (scripts/agent-idle-order.sh writes the list; the program is linked again each time, so that a new
# list takes effect). The link map goes beside it, for that script.
AGENT_ORDER := Sources/Agent/idle-functions.order
agent:
	scripts/install-deps.sh demo
	rm -f .build-agent/release/jump-agent
	$(SWIFT) build -c release --product jump-agent --static-swift-stdlib --scratch-path .build-agent \
		-Xswiftc -no-whole-module-optimization -Xswiftc -Xfrontend -Xswiftc -function-sections \
		-Xswiftc -use-ld=lld -Xlinker --symbol-ordering-file=$(CURDIR)/$(AGENT_ORDER) \
		-Xlinker --no-warn-symbol-ordering -Xlinker -Map=$(CURDIR)/.build-agent/jump-agent.map
	@echo "built .build-agent/release/jump-agent; see the README's Deploy agents"

demo:
	scripts/install-deps.sh demo
	$(SWIFT) build
	scripts/demo.sh

# The fuzzer instruments every module (libFuzzer + AddressSanitizer), so it has its own build folder.
# New inputs go to a scratch folder; the committed corpus is only read. A crash is written to
# Fuzz/crashes/: add it to Tests/JumpProtocolTests/FuzzCrashes/ as a regression test.
fuzz:
	scripts/install-deps.sh fuzz
	cd $(FUZZ_DIR) && $(SWIFT) build -c release -Xswiftc -sanitize=fuzzer,address --scratch-path .build-fuzz
	@mkdir -p $(FUZZ_DIR)/crashes
	@work=$$(mktemp -d) && trap 'rm -rf "$$work"' EXIT && \
	  $(FUZZ_BUILD)/release/FrameFuzzer -runs=$(FUZZ_RUNS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/crashes/ "$$work" $(FUZZ_DIR)/corpus

bench:
	scripts/install-deps.sh test
	$(SWIFT) build -c release --product jump-bench-codec
	$(SWIFT) build -c release --product jump-agent
	$(SWIFT) build -c release --product jump-bench-capture
	.build/release/jump-bench-codec
	.build/release/jump-bench-capture
	Benchmarks/scale.sh

protos-check:
	scripts/install-deps.sh test
	scripts/generate-protos.sh --check

clean:
	rm -rf .build .build-protoc $(FUZZ_BUILD)
