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
# For the only target these machines have (x86_64-unknown-linux-gnu, dynamically linked glibc).
# Runtime stage: distroless cc (glibc, libgcc_s, CA certificates, /etc/passwd with `nonroot`),
# no shell and no package manager. Both bases are pinned by tag; pin them by digest
# (`image:tag@sha256:...`) in your registry mirror: the digests cannot be checked offline where
# this file was written, so none is claimed here.
#
# No HEALTHCHECK: the image has no shell or HTTP client to run one, and health is served over
# HTTP by `run --listen 0.0.0.0:8080` (/healthz, /readyz), which Kubernetes probes and ECS/ALB
# checks use directly. `HEALTHCHECK NONE` says so explicitly.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# The workspace's manifests and crates first (cargo needs every member to resolve), so the
# dependency download is cached apart from the binary's own sources.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
RUN cargo fetch --locked --target x86_64-unknown-linux-gnu
COPY src ./src
COPY examples ./examples
RUN cargo build --release --locked --no-default-features --features aws --bin canvas-sis \
    && install -D -m 0555 target/release/canvas-sis /out/canvas-sis \
    && install -d -m 0700 /out/work

FROM gcr.io/distroless/cc-debian12:nonroot
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
