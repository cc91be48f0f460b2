# The operator image: one static binary on a distroless base, running as a non-root user.
#
#   docker build -t sparkplane:dev .
#
# Not built as an image on the development machines (they have no container runtime). The build
# stage's cargo command was run there on its own (docs/install.md): it gives a static binary that
# runs the operator and the CLI against the testbed.

FROM docker.io/library/rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
# No debug info and no symbols in the image: 22 MB instead of 140 MB.
ENV CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=symbols
RUN cargo build --release --locked --target x86_64-unknown-linux-musl -p sparkplane --bin sparkplane \
 && cp target/x86_64-unknown-linux-musl/release/sparkplane /sparkplane

# distroless/static carries CA certificates and the time-zone database (ScheduledSparkApplication's
# timeZone needs it) and nothing else: no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /sparkplane /usr/local/bin/sparkplane
# 65532 is distroless' nonroot user; numeric so that runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/sparkplane"]
CMD ["operator"]
