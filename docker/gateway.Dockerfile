# The WeChat gateway: gateway/gateway.mjs, the official wechaty PuppetServer in front of the puppet
# WECHATY_PUPPET names (wechaty-puppet-wechat4u by default). The same entry point the tests run.
# Build from the repository root:  docker build -f docker/gateway.Dockerfile -t wechat-mqtt-bridge-gateway .
# Node 24: a supported LTS line (20 reached its end of life in April 2026); the gateway's tests
# pass on 20 (this machine's) and 24 alike.
FROM node:24-slim

ENV NODE_ENV=production \
    WECHATY_DATA=/data \
    WECHATY_PUPPET_SERVER_HOST=0.0.0.0 \
    WECHATY_PUPPET_SERVER_PORT=8788

WORKDIR /app
COPY gateway/package.json gateway/package-lock.json gateway/.npmrc ./
# --omit=optional leaves out wechaty-puppet-xp, which runs only on Windows (its frida would be
# downloaded for nothing). The lock pins every package.
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force
COPY gateway/*.mjs ./
RUN mkdir -p /data && chown node:node /data

# The node image's unprivileged user.
USER node
# The memory card (the puppet's saved session): keep it, or every new container needs a new scan.
VOLUME ["/data"]
EXPOSE 8788

# No secrets here: WECHATY_TOKEN and any puppet token are passed at run time.

# Healthy = the gRPC port accepts connections. Whether WeChat is logged in is the bridge's
# health check (a scan needed is not a broken gateway).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["node", "-e", "require('net').connect(Number(process.env.WECHATY_PUPPET_SERVER_PORT), '127.0.0.1').on('connect', () => process.exit(0)).on('error', () => process.exit(1))"]

ENTRYPOINT ["node", "gateway.mjs"]
