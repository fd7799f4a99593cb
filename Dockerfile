# syntax=docker/dockerfile:1
# docker build --build-arg VERSION=$(git describe --tags --always) -t workflow-runtime .
#
# The build stage runs `make image-rootfs`, the same target that builds the
# image's file tree without Docker (bin/rootfs), and the final stage copies
# that tree whole: what the image holds is what the target makes.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN make image-rootfs VERSION=${VERSION} ROOTFS=/rootfs

# Static binaries on distroless: no shell, no package manager, CA
# certificates and time zone data included, user nonroot (65532). No
# HEALTHCHECK: Kubernetes probes /livez and /readyz.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /rootfs/ /
USER nonroot:nonroot
EXPOSE 9090 8080
ENTRYPOINT ["/usr/local/bin/workflow-runtime"]
CMD ["serve"]
