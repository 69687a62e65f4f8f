# rayfleet: one static binary, the server and its CLI.
#
#   docker build -t rayfleet:latest .
#
# The build stage compiles without cgo (the SQLite driver is pure Go), so
# the binary runs on any base image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags='-s -w' -o /out/rayfleet ./cmd/rayfleet

# debian-slim rather than distroless: `kubectl exec ... cat` is how the
# first start's credentials are read out of the pod (deploy/README.md).
FROM debian:bookworm-slim
RUN apt-get update \
	&& apt-get install -y --no-install-recommends ca-certificates \
	&& rm -rf /var/lib/apt/lists/* \
	&& groupadd --gid 65532 rayfleet \
	&& useradd --uid 65532 --gid 65532 --home-dir /var/lib/rayfleet --no-create-home --shell /usr/sbin/nologin rayfleet \
	&& mkdir -p /var/lib/rayfleet \
	&& chown rayfleet:rayfleet /var/lib/rayfleet
COPY --from=build /out/rayfleet /usr/local/bin/rayfleet
USER 65532:65532
WORKDIR /var/lib/rayfleet
ENV RAYFLEET_DATA_DIR=/var/lib/rayfleet
EXPOSE 8080 8081 10101
ENTRYPOINT ["/usr/local/bin/rayfleet"]
CMD ["server", "--api-addr", "0.0.0.0:8080", "--gateway-listen", "0.0.0.0:8081", "--gateway-grpc-listen", "0.0.0.0:10101"]
