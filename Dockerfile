# The exporter as a small image. Against AWS, pass credentials and region through the
# standard AWS_* variables. The default build has no simulated AWS in it; the compose
# stack builds with FEATURES=demo to run against the simulated estate.
FROM rust:1.95-bookworm AS build
ARG FEATURES=""
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin aws-quota-exporter --features "$FEATURES"

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/aws-quota-exporter /usr/local/bin/aws-quota-exporter
# The increase receiver's SQLite ledger; mount a volume here to keep it.
RUN mkdir -p /var/lib/aws-quota-exporter && chown 65534:65534 /var/lib/aws-quota-exporter
USER 65534:65534
EXPOSE 9767
ENTRYPOINT ["/usr/local/bin/aws-quota-exporter"]
