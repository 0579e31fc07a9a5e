# syntax=docker/dockerfile:1
# Build: docker build -t mcp-authd .
# Run:   docker run -p 8080:8080 -v mcp-authd-data:/data -e MCP_AUTHD_ISSUER=https://auth.example.com mcp-authd

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# The same command the README gives for a release build.
RUN cargo build --release --locked && cp target/release/mcp-authd /usr/local/bin/mcp-authd

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin mcp-authd \
 && mkdir -p /data /app/config \
 && chown mcp-authd:mcp-authd /data
COPY --from=build /usr/local/bin/mcp-authd /usr/local/bin/mcp-authd
WORKDIR /app
ENV MCP_AUTHD_LISTEN=0.0.0.0:8080 \
    MCP_AUTHD_DATA_DIR=/data
USER mcp-authd
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["mcp-authd", "healthcheck"]
ENTRYPOINT ["mcp-authd"]
CMD ["serve"]
