# The two set-up commands of the README, plus developer conveniences.
#   make demo   install what is missing, build, run the main job on the bundled model
#   make check  install what is missing, build, run every test
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=
ifeq ($(CI),true)
  CMAKE_FLAGS += -DROCMFORGE_FATAL_WARNINGS=ON
endif
DEMO_MODEL ?= models/kjv-tiny-llama-q8_0.gguf

.PHONY: all deps reference build asan fuzz demo check test clean

all: build

deps:
	@scripts/install-deps.sh

reference: deps
	@scripts/fetch-reference.sh >/dev/null

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The main job: generate text with the bundled model (a small LLaMA trained
# on the King James Bible), greedy so the output is the same every time.
demo: build
	./$(BUILD)/rocmforge info $(DEMO_MODEL)
	./$(BUILD)/rocmforge run $(DEMO_MODEL) -p "In the beginning" -n 64 --temp 0
	./$(BUILD)/rocmforge run $(DEMO_MODEL) -p "And Jesus said unto them" -n 48 --temp 0.7 --seed 42

# Unit + conformance suites, then the same suites under ASan+UBSan, then the
# fuzzers for a bounded time over their seed corpora. A build that registered
# no tests fails (--no-tests=error) rather than passing with nothing run.
# Each test process writes its models and outputs under <build>/test-tmp/<pid>
# (tests/test_util.c) and leaves them for a failure's post-mortem; the last
# run's are removed first, or repeated runs fill the disk (about 1 GB a run).
check: build reference
	rm -rf $(BUILD)/test-tmp $(BUILD_ASAN)/test-tmp
	cd $(BUILD) && ctest --output-on-failure --no-tests=error -j $(JOBS)
	cmake -S . -B $(BUILD_ASAN) -DROCMFORGE_SANITIZE=ON -DCMAKE_C_COMPILER=clang $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ctest --output-on-failure --no-tests=error -j $(JOBS) -L unit
	FUZZ_SECONDS=$${FUZZ_SECONDS:-20} scripts/run-fuzzers.sh $(BUILD_FUZZ)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
