# Multi-stage build: compile with the Rust toolchain, run on a small Debian base as non-root.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
# The token page: its template, stylesheet and script are compiled into the binary.
COPY templates ./templates
COPY assets ./assets
COPY benches ./benches
RUN cargo build --release --locked --bin authgate

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/authgate --create-home authgate
COPY --from=build /src/target/release/authgate /usr/local/bin/authgate
USER authgate
WORKDIR /var/lib/authgate
# Mount the config here (and any key files it names, relative to it).
ENV AUTHGATE_CONFIG=/etc/authgate/authgate.toml
# listen (client traffic) and admin_listen (health, metrics, admin API).
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS http://127.0.0.1:9090/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/authgate"]
CMD ["run"]
