# bitlearn — build, test, benchmarks.
NODE ?= node
# a test file a core: tap's default is one fewer than the cores, so one at a time on a 2-core
# machine (the suite there: 885 s one at a time, 573 s two at a time)
TAP_FLAGS ?= --jobs=$(shell nproc)

.PHONY: all build typecheck lint format test bench demo clean dist deploy

all: build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci

build: node_modules/.package-lock.json
	npx tsc -p tsconfig.json
	npm run --silent build:wasm
	chmod +x build/src/cli/main.js

# type-check everything and compile the tests into build/test (tap runs the compiled files: under
# tap's TypeScript loader every test process and every kernel thread transpiled the sources again)
typecheck: node_modules/.package-lock.json
	rm -rf build/test
	npx tsc -p tsconfig.test.json

# formatter and linter (Biome, biome.json): `make lint` checks, `make format` rewrites
lint: node_modules/.package-lock.json
	npx biome ci --colors=off --error-on-warnings --reporter=summary .

format: node_modules/.package-lock.json
	npx biome format --write .

# lint, type-check everything (tests included), build the CLI the tests run, then the tap suite
test: lint typecheck build
	npx tap $(TAP_FLAGS)

# the main job: binary MLP on MNIST, low-memory recipe, memory/accuracy report
demo: build
	$(NODE) build/src/cli/main.js train --model mlp --data mnist --recipe low-memory --epochs 5

bench: build
	$(NODE) build/src/cli/main.js bench --suite memory
	$(NODE) build/src/cli/main.js bench --suite speed
	$(NODE) build/src/cli/main.js bench --suite kernels --batches 100

# one executable per architecture in dist/ (needs Debian's g++ cross compilers, binutils and
# qemu-user-static for the ARM targets: see .ci/run)
dist: build
	$(NODE) build/device/dist.js $(TARGETS)

# copy the matching executable to a Raspberry Pi and run `bitlearn probe` there. PI and REMOTE
# reach the script through the environment, never pasted into the shell line (no injection).
export PI REMOTE
deploy:
	device/deploy.sh "$$PI" "$${REMOTE:-bitlearn}"

clean:
	rm -rf build .tap dist .dist-cache
