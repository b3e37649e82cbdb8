# The WeChat gateway: gateway/gateway.mjs, the official wechaty PuppetServer in front of the puppet
# WECHATY_PUPPET names (wechaty-puppet-wechat4u by default). The same entry point the tests run.
# Build from the repository root:  docker build -f docker/gateway.Dockerfile -t wechat-mqtt-bridge-gateway .
#
# Node.js from Debian 13 (trixie, Node 20.19, maintained by Debian security for trixie's life), as
# the bridge image takes its Python: one distribution for both images and for the tests, which
# build this file on a local debootstrap of trixie (--build-arg BASE=localhost/debian:trixie-slim).
# Two stages: npm and its tree stay in the first; the image keeps node and the gateway.
ARG BASE=debian:trixie-slim

FROM ${BASE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY gateway/package.json gateway/package-lock.json gateway/.npmrc ./
# --omit=optional leaves out wechaty-puppet-xp, which runs only on Windows (its frida would be
# downloaded for nothing). The lock pins every package.
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force
COPY gateway/*.mjs ./

FROM ${BASE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs ca-certificates \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10002 gateway \
    && mkdir -p /data && chown gateway /data
COPY --from=build /app /app
WORKDIR /app
# --max-semi-space-size=1 (MB): V8's young generation is 16 MB per semi-space by default, far more
# than a gateway relaying a few messages a second needs. Measured on a 2-CPU VM (benchmarks/RESULTS.md,
# 2026-12-08): RSS after 5,000 sends through the mock puppet 108 MB instead of 147 MB (-27 %), 100
# instead of 127 MB 2 s after start, the same 1,142 sends/s; idle RSS after 60 s about the same
# (~90 MB, mock or wechat4u). The tests and benchmarks run the gateway with it too (NODE_OPTIONS in
# tests/support/gateway.py; tests/test_docker.py checks the two agree). --max-old-space-size=64 made
# sends 3.4x slower and --lite-mode 24 % slower, so neither is set. A NODE_OPTIONS given at run time
# replaces this one.
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=1 \
    WECHATY_DATA=/data \
    WECHATY_PUPPET_SERVER_HOST=0.0.0.0 \
    WECHATY_PUPPET_SERVER_PORT=8788

USER gateway
# The memory card (the puppet's saved session): keep it, or every new container needs a new scan.
VOLUME ["/data"]
EXPOSE 8788

# No secrets here: WECHATY_TOKEN and any puppet token are passed at run time.

# Healthy = the gRPC port accepts connections. Whether WeChat is logged in is the bridge's
# health check (a scan needed is not a broken gateway).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["node", "-e", "require('net').connect(Number(process.env.WECHATY_PUPPET_SERVER_PORT), '127.0.0.1').on('connect', () => process.exit(0)).on('error', () => process.exit(1))"]

ENTRYPOINT ["node", "gateway.mjs"]
