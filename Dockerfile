# syntax=docker/dockerfile:1
# chatsync: a static, non-root image.
#
#   docker build -t chatsync --build-arg VERSION=$(git describe --always) .
#   docker run --rm chatsync version
#
# The builder compiles without cgo (-trimpath, version stamped with -X); the final
# stage is distroless "static" running as the nonroot user (65532), with nothing in
# it but the binary, CA certificates and tzdata.
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=""
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/chatsync ./cmd/chatsync

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/chatsync /usr/local/bin/chatsync
USER nonroot:nonroot
# serve: HTTP_ADDR (public) and ADMIN_ADDR; work: ADMIN_ADDR; emulator: EMULATOR_ADDR.
# The admin and emulator defaults are loopback: set ADMIN_ADDR=:9090 (serve) or :9091
# (work) and EMULATOR_ADDR=:9000 to reach them from other containers.
EXPOSE 8080 9090 9091 9000
ENTRYPOINT ["/usr/local/bin/chatsync"]
CMD ["serve"]
