# Hetao gateway image.
#   docker build -t hetao-gateway .      (or: docker compose up --build)
# Stages: build (all deps, tsc → dist/), prod-deps (runtime node_modules only), s3-dev (the local
# S3 server of the shared-mode compose stack, for trying it out only), runtime (the default target).

# --- build: compile TypeScript -----------------------------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY schemas ./schemas
COPY gateway ./gateway
# tsc -p tsconfig.build.json (rootDir '.') emits dist/gateway/**, and copies the JSON that
# gateway/identity/registry.ts imports to dist/schemas/registry.schema.json, where
# dist/gateway/identity/registry.js looks for it ('../../schemas/...').
RUN npm run build && test -f dist/gateway/app/main.js && test -f dist/schemas/registry.schema.json

# --- prod-deps: node_modules without dev dependencies ------------------------------------------
FROM node:20-bookworm-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- s3-dev: a local S3-compatible server (scripts/s3-server.mjs, s3rver) for docker-compose's shared
# profile. Not for production: use the operator's S3 or S3-compatible object storage there.
FROM node:20-bookworm-slim AS s3-dev
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund && npm cache clean --force
COPY scripts/s3-server.mjs ./scripts/
RUN mkdir -p /var/lib/s3 && chown node:node /var/lib/s3
USER node
EXPOSE 9000
CMD ["node", "scripts/s3-server.mjs", "--dir", "/var/lib/s3", "--address", "0.0.0.0", "--port", "9000", "--bucket", "hetao-envelopes"]

# --- runtime -----------------------------------------------------------------------------------
FROM node:20-bookworm-slim
WORKDIR /app

# Code and dependencies stay owned by root: the gateway's user can read them, not change them.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY schemas ./schemas
COPY policies ./policies
# DEVELOPMENT DEFAULTS ONLY: the dev PKI (its private keys are public in the repository) so that the
# image starts as is for trying it out. Production mounts its own CA bundle, CRL, server key and
# certificate and registry (HETAO_TLS_CERT, HETAO_TLS_KEY, HETAO_TLS_CA, HETAO_TLS_CRL,
# HETAO_REGISTRY_FILE) and sets NODE_ENV=production, under which the gateway refuses to start on
# anything from certs-dev/.
COPY certs-dev ./certs-dev
# Key files may be 0600 in the build context (the dev PKI generator writes them so); make everything
# readable (not writable) by the unprivileged user.
RUN chmod -R a+rX /app/schemas /app/policies /app/certs-dev \
 && mkdir -p /var/lib/hetao \
 && chown node:node /var/lib/hetao

# The API listens on all interfaces of the container. The ops listener (/healthz, /readyz,
# /metrics; plain HTTP) stays on the container's loopback unless HETAO_OPS_HOST is set
# (docker-compose.yml sets it to 0.0.0.0 and publishes the port on the host's loopback only).
ENV HETAO_HOST=0.0.0.0 \
    HETAO_DATA_DIR=/var/lib/hetao
VOLUME ["/var/lib/hetao"]
EXPOSE 8443 9464

USER node

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HETAO_OPS_PORT || '9464') + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

CMD ["node", "dist/gateway/app/main.js"]
