# canvas-sis container image: the cloud worker (`canvas-sis run`) and the one-shot and operator
# commands, in one binary on a distroless runtime. Without the Canvas simulator: see the build.
#
#   docker build -t canvas-sis:0.1.0 .
#   docker run --rm --read-only --tmpfs /tmp --tmpfs /work -e SIS_QUEUE_URL=... canvas-sis:0.1.0 run
#
# Build stage: the release binary the tests build, but with `--no-default-features --features aws`
# (the worker's AWS side, without the default feature `sim`): `sim` (the Canvas simulator, `demo` and `simulate`, and the crates only they use: axum's
# multipart and JSON extractors, multer, csv, hyper's server) is for tests and trying things out,
# so a worker image carries none of its code (in the image, `demo` and `simulate` only say so).
# Multi-architecture: x86_64 and arm64 (AWS Graviton) from one Dockerfile. The build stage runs on
# the builder's own platform and cross-compiles for the target one (glibc, dynamically linked):
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t <registry>/canvas-sis:0.1.0 --push .
#
# BuildKit sets TARGETARCH; arm64 adds Rust's aarch64-unknown-linux-gnu target and Debian's
# aarch64 cross compiler (the TLS stack's C code needs it). Not built here: these machines have no
# Docker engine and cannot add a Rust target, so only hadolint checks this file; a build on a
# machine with buildx (and the binary's `--version` under `docker run --platform linux/arm64`)
# is what would prove the arm64 image.
# Runtime stage: distroless cc (glibc, libgcc_s, CA certificates, /etc/passwd with `nonroot`),
# no shell and no package manager. Both bases are pinned by tag; pin them by digest
# (`image:tag@sha256:...`) in your registry mirror: the digests cannot be checked offline where
# this file was written, so none is claimed here.
#
# No HEALTHCHECK: the image has no shell or HTTP client to run one, and health is served over
# HTTP by `run --listen 0.0.0.0:8080` (/healthz, /readyz), which Kubernetes probes and ECS/ALB
# checks use directly. `HEALTHCHECK NONE` says so explicitly.

FROM --platform=$BUILDPLATFORM rust:1.95-bookworm AS build
ARG TARGETARCH
WORKDIR /src
# The Rust target and, for arm64, the cross compiler and linker it needs.
# hadolint ignore=DL3008
RUN case "$TARGETARCH" in \
      amd64|"") echo x86_64-unknown-linux-gnu > /rust-target ;; \
      arm64) echo aarch64-unknown-linux-gnu > /rust-target \
        && apt-get update \
        && apt-get install -y --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
        && rm -rf /var/lib/apt/lists/* \
        && rustup target add aarch64-unknown-linux-gnu ;; \
      *) echo "unsupported TARGETARCH $TARGETARCH (amd64 or arm64)" >&2; exit 1 ;; \
    esac
# Relative relocations packed (DT_RELR: GNU ld >= 2.38 builds it here, glibc >= 2.36 reads it in
# the runtime image): the table the loader applies at every start shrinks from 1.4 MB to 23 KB,
# so the binary is 1.4 MB smaller and a worker idles with about 0.8 MiB less resident memory
# (docs/benchmarks.md). scripts/bench_worker.sh reads this line to build the worker it measures.
ENV RUSTFLAGS="-C link-arg=-Wl,-z,pack-relative-relocs"
ENV CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
# The workspace's manifests and crates first (cargo needs every member to resolve), so the
# dependency download is cached apart from the binary's own sources.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
RUN cargo fetch --locked --target "$(cat /rust-target)"
COPY src ./src
COPY examples ./examples
RUN target="$(cat /rust-target)" \
    && cargo build --release --locked --no-default-features --features aws --bin canvas-sis --target "$target" \
    && install -D -m 0555 "target/$target/release/canvas-sis" /out/canvas-sis \
    && install -d -m 0700 /out/work

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=""
LABEL org.opencontainers.image.title="canvas-sis" \
      org.opencontainers.image.description="Feeds SIS CSV exports into Canvas LMS through the SIS Imports API, safely and in order: the cloud worker and operator commands." \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=build /out/canvas-sis /usr/local/bin/canvas-sis
# Scratch space for downloads and zips, owned by the runtime user (the image has no shell to make
# it). With a read-only root file system, mount an emptyDir or tmpfs here and at /tmp (the Helm
# chart and the ECS task definition do).
COPY --from=build --chown=65532:65532 /out/work /work
ENV SIS_WORK_DIR=/work \
    CANVAS_SIS_LOG_FORMAT=json
# distroless's `nonroot` user, numerically, so `runAsNonRoot` can verify it without /etc/passwd.
USER 65532:65532
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/canvas-sis"]
CMD ["run"]
