# chatsync — the README's commands and a few helpers.
.PHONY: dev test build bench docker demo lint

dev: ## run chatsync on embedded defaults (miniredis + Chat emulator)
	go run ./cmd/chatsync dev

test: ## the whole test suite against a real redis-server (installed if missing)
	./scripts/test.sh

build:
	CGO_ENABLED=0 go build -trimpath -o bin/ ./cmd/...

bench: ## run the benchmark and write BENCHMARKS.md (ARGS=--full: 1,000,000 callbacks in the memory run; --quick: a smoke run)
	./scripts/bench.sh $(ARGS)

docker: ## build the container image chatsync:local (static, distroless, non-root)
	docker build -t chatsync:local --build-arg VERSION=$$(git describe --always --dirty 2>/dev/null || echo dev) .

demo: ## the complete local system in containers: Redis, serve, 3 workers and the Chat emulator
	docker compose --env-file demo.env --profile demo up --build

lint: ## gofmt, go vet and staticcheck (installed at a pinned version if missing)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...
	@command -v staticcheck >/dev/null || go install honnef.co/go/tools/cmd/staticcheck@v0.6.1
	PATH="$$PATH:$$(go env GOPATH)/bin" staticcheck ./...
