# ducklake-backend container image: a build stage with the toolchain, a runtime stage with only
# the shared libraries the binary links (Debian 12 both, so the library versions match).
#   docker build -t ducklake-backend:v1.0.2 .      (or ./build.sh v1.0.2)
#   docker run -p 8000:8000 ducklake-backend:v1.0.2
# Configuration is environment variables only (see .env.example / README.md).

# ---------------------------------------------------------------------------- build stage
FROM debian:12-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
# npm fetches the pinned DuckDB library; openssl checks its hash (scripts/deps.sh).
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends ca-certificates nodejs npm openssl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY scripts/deps.sh scripts/deps.sh
# Dependencies first: this layer is reused while only the sources change.
RUN scripts/deps.sh build
COPY Makefile VERSION ./
COPY src src
RUN make -j"$(nproc)" MODE=release \
    && ./build/ducklake-backend --version

# -------------------------------------------------------------------------- runtime stage
FROM debian:12-slim
ARG DEBIAN_FRONTEND=noninteractive
# Runtime libraries of the binary (ldd build/ducklake-backend), and curl for HEALTHCHECK.
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends \
       libmicrohttpd12 libjansson4 libcurl4 libpq5 libsqlite3-0 libssl3 zlib1g \
       ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 ducklake \
    && useradd --system --uid 10001 --gid ducklake --home-dir /app --shell /usr/sbin/nologin ducklake \
    && mkdir -p /app/data /app/logs \
    && chown -R ducklake:ducklake /app/data /app/logs
# The binary finds libduckdb.so through its rpath ($ORIGIN/../third_party/duckdb/lib).
COPY --from=build /src/build/ducklake-backend /app/build/ducklake-backend
COPY --from=build /src/third_party/duckdb/lib/libduckdb.so /app/third_party/duckdb/lib/libduckdb.so
WORKDIR /app
# Inside a container the server must listen on every interface, not loopback.
ENV HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/app/data
USER 10001:10001
VOLUME ["/app/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/health/live || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/build/ducklake-backend"]
