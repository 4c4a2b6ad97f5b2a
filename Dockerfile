# syntax=docker/dockerfile:1
# ordergate: a small static image that runs as non-root.
#
#   docker build -t ordergate .
#   docker run -p 8080:8080 -v ordergate-data:/data ordergate
#
# Untested on the machine this project is developed on (it cannot run
# Docker); kept minimal so that it can be checked by reading.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# modernc.org/sqlite is pure Go, so the binary needs no C library.
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/ordergate ./cmd/ordergate \
 && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/exchange-sim ./cmd/exchange-sim \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ordergate /out/exchange-sim /usr/local/bin/
# The SQLite default lives on a volume owned by the nonroot user (65532).
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV ORDERGATE_ADDR=0.0.0.0:8080 \
    ORDERGATE_DB=/data/ordergate.db
EXPOSE 8080
VOLUME /data
# The image has no shell or curl: the binary checks its own /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/ordergate", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/ordergate"]
