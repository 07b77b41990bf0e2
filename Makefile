# chatsync — the README's commands and a few helpers.
.PHONY: dev test build

dev: ## run chatsync on embedded defaults (miniredis + Chat emulator)
	go run ./cmd/chatsync dev

test: ## the whole test suite against a real redis-server (installed if missing)
	./scripts/test.sh

build:
	CGO_ENABLED=0 go build -trimpath -o bin/ ./cmd/...
