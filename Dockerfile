# syntax=docker/dockerfile:1
# Build: docker build --build-arg VERSION=$(git describe --tags --always) -t workflow-runtime .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/workflow-runtime ./cmd/workflow-runtime

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/workflow-runtime /usr/local/bin/workflow-runtime
USER nonroot:nonroot
EXPOSE 9090 8080
ENTRYPOINT ["/usr/local/bin/workflow-runtime"]
CMD ["serve"]
