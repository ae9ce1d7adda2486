# Thin wrapper over CMake presets. `make run` and `make test` install what they need first
# (scripts/install-deps is idempotent and fast when everything is present).
PRESET ?= release
BUILD  := build/$(PRESET)
JOBS   ?= $(shell nproc)

.PHONY: all deps build run test test-unit test-integration test-e2e bench clean format

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja: CMakeLists.txt CMakePresets.json
	cmake --preset $(PRESET)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

node_modules: tests/package.json
	@scripts/install-node-deps

run: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target twostep
	@echo "twostep: open http://127.0.0.1:8080 (sign up to create the first account; Ctrl-C stops)"
	$(BUILD)/src/twostep serve

test: build node_modules
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L 'unit|contract'

test-integration: build node_modules
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L integration

test-e2e: build node_modules
	cd $(BUILD) && ctest --output-on-failure -L e2e

bench: build
	@scripts/bench

clean:
	rm -rf build

format:
	clang-format -i $$(git ls-files 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'bench/*.cpp')
