# syntax=docker/dockerfile:1
# modelctl: one image, one CLI; the role is the first argument (serve, fetch, warm, cleanup, agent, deploy).
#   docker build -t modelctl:dev .      (make image)
# Runs as uid 1000 (node) with a read-only root filesystem: the pods mount /tmp and the model folders.

# 1. build: compile TypeScript and bundle the CLI (esbuild, into dist/bundle/) with the dev dependencies
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY cli ./cli
COPY functions ./functions
COPY shared ./shared
COPY scripts ./scripts
RUN npm run build

# 2. deps: production dependencies only (onnxruntime-node ships its linux x64 libonnxruntime.so in the
#    package; .npmrc skips its optional CUDA download), then drop the other platforms' native builds
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund \
    && rm -rf node_modules/onnxruntime-node/bin/napi-v*/darwin node_modules/onnxruntime-node/bin/napi-v*/win32 \
    && npm cache clean --force

# 3. runtime: node, the bundled CLI, production node_modules; nothing writable needed.
#    Cold start: Node's compile cache (V8 code of every module) is filled here, by the uids that run modelctl
#    (Node keeps it per version and uid: 1000, and 0 for an agent DaemonSet run as root), so a new pod reads
#    compiled code from the read-only image instead of compiling modelctl and its dependencies on every start.
FROM node:24-slim AS runtime
ENV NODE_ENV=production
ENV NODE_COMPILE_CACHE=/app/.compile-cache
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
RUN chmod 0755 /app/dist/bundle/modelctl.js && ln -s /app/dist/bundle/modelctl.js /usr/local/bin/modelctl \
    && mkdir -p /app/.compile-cache && npm run --silent warm-compile-cache && chown -R 1000:1000 /app/.compile-cache
USER 1000:1000
RUN npm run --silent warm-compile-cache
EXPOSE 8080
ENTRYPOINT ["modelctl"]
