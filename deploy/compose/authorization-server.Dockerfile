# The development authorization server (devstack/authorization-server) for compose.yaml only:
# in-memory, accepts any login. Built from the repository root (see .dockerignore).
FROM node:22.14.0-bookworm-slim
WORKDIR /as
COPY devstack/authorization-server/package.json devstack/authorization-server/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY devstack/authorization-server/server.mjs ./
# the image's unprivileged "node" user
USER 1000:1000
CMD ["node", "server.mjs", "--config", "/etc/bff/keys/as-config.json"]
