# syntax=docker/dockerfile:1
# ordergate: a small static image that runs as non-root.
#
#   docker build -t ordergate .
#   docker run -p 8080:8080 -v ordergate-data:/data ordergate
#
# The image is built only where Docker and the base images are available;
# the machine this project is developed on has neither. What can be checked
# without Docker is: .ci/run builds the binaries with the same Makefile
# target as below, and the tests run the healthcheck sub-command that
# HEALTHCHECK uses.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static binaries (modernc.org/sqlite is pure Go): the flags are in the
# Makefile's docker-binaries target, which .ci/run builds too.
RUN make docker-binaries DOCKER_OUT=/out \
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
