# Multi-stage build: a static, non-root image with nothing but the binary.
#   docker build -t assetgateway .
#   docker run -p 8080:8080 -v $PWD/config.yaml:/etc/assetgateway/config.yaml:ro assetgateway
# The config is mounted at run time (it holds secrets; never bake it into the image). Inside a
# container, listen on ":8080", not "127.0.0.1:8080". A "file" bucket needs a volume for its root.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/assetgateway ./cmd/assetgateway

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/assetgateway /usr/local/bin/assetgateway
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/assetgateway"]
CMD ["-config", "/etc/assetgateway/config.yaml"]
