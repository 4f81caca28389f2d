# Multi-stage build: compile in the Rust image, run in a slim Debian as a non-root user.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin imap-gateway

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin gateway
COPY --from=build /src/target/release/imap-gateway /usr/local/bin/imap-gateway
USER gateway
ENV IMAP_GATEWAY_LISTEN=0.0.0.0:8080 \
    IMAP_GATEWAY_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/imap-gateway"]
