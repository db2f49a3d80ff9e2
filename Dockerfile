# syntax=docker/dockerfile:1
# modelctl: one image, one CLI; the role is the first argument (serve, fetch, warm, cleanup, agent, deploy).
#   docker build -t modelctl:dev .      (make image)
# Runs as uid 1000 (node) with a read-only root filesystem: the pods mount /tmp and the model folders.

# 1. build: compile TypeScript with the dev dependencies
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY cli ./cli
COPY functions ./functions
COPY shared ./shared
RUN npm run build

# 2. deps: production dependencies only (onnxruntime-node ships its linux x64 libonnxruntime.so in the
#    package; .npmrc skips its optional CUDA download), then drop the other platforms' native builds
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund \
    && rm -rf node_modules/onnxruntime-node/bin/napi-v*/darwin node_modules/onnxruntime-node/bin/napi-v*/win32 \
    && npm cache clean --force

# 3. runtime: node, the compiled CLI, production node_modules; nothing writable needed
FROM node:24-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
RUN chmod 0755 /app/dist/cli/main.js && ln -s /app/dist/cli/main.js /usr/local/bin/modelctl
USER 1000:1000
EXPOSE 8080
ENTRYPOINT ["modelctl"]
