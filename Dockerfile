# rides-connect: a static binary on a distroless, non-root base.
# Build: docker build -t rides-connect .      Run: docker run rides-connect -c /etc/rides-connect/rides.yaml

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# Every config the image carries is linted here; their templates (config/templates) are built
# into the binary, so the configs need no other file.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/rides-connect ./cmd/rides-connect \
    && /out/rides-connect lint /src/config/rides.yaml /src/config/rides-scaleout.yaml /src/config/rides-single.yaml \
       /src/config/bronze.yaml /src/config/producer.yaml

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rides-connect /usr/local/bin/rides-connect
# config/rides.yaml (the default), its all-in-Kafka variant and the single-process job, the bronze
# job and the simulator.
COPY --from=build /src/config/rides.yaml /src/config/rides-scaleout.yaml /src/config/rides-single.yaml \
     /src/config/bronze.yaml /src/config/producer.yaml /etc/rides-connect/
# ./data (the default table and checkpoint paths) lives in the non-root user's home.
WORKDIR /home/nonroot
USER nonroot:nonroot
EXPOSE 4195
ENTRYPOINT ["/usr/local/bin/rides-connect"]
CMD ["-c", "/etc/rides-connect/rides.yaml"]
