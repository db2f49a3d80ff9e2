# modelctl: one image, one CLI; the role is the first argument (serve, fetch, warm, cleanup, agent, deploy).
#   make image     (scripts/image/build-image.sh: docker build --target runtime, BuildKit, tags modelctl:dev)
# Runs as uid 1000 (node) with a read-only root filesystem: the pods mount /tmp and the model folders.
# Build-only inputs never reach the final stage: the CA of a TLS-re-signing egress comes in as the BuildKit
# secret `npm-ca` (mounted for the npm steps alone), and npm's cache is a BuildKit cache mount.
# Each stage below is self-contained; another image (e.g. a Python one) adds its own stages and --target.

# 1. build: compile TypeScript and bundle the CLI (esbuild, into dist/bundle/) with the dev dependencies
FROM node:24-slim AS build
WORKDIR /app
# onnxruntime-node's install script would download the CUDA providers (hundreds of MB) from NuGet: skipped
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN --mount=type=secret,id=npm-ca --mount=type=cache,id=modelctl-npm,target=/root/.npm,sharing=locked \
    if [ -s /run/secrets/npm-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm-ca; fi \
    && npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY cli ./cli
COPY functions ./functions
COPY shared ./shared
COPY scripts/bundle.js scripts/warm-compile-cache.js ./scripts/
RUN npm run build

# 2. deps: production dependencies only (onnxruntime-node ships its CPU libonnxruntime.so in the package), then
#    the native builds of every other platform go (onnxruntime's darwin/win32/linux-arm64 are ~245 MB), and the
#    type declarations and source maps nothing reads at run time (~55 MB)
FROM node:24-slim AS deps
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
COPY scripts/image/prune-other-platforms.sh /usr/local/bin/
RUN --mount=type=secret,id=npm-ca --mount=type=cache,id=modelctl-npm,target=/root/.npm,sharing=locked \
    if [ -s /run/secrets/npm-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm-ca; fi \
    && npm ci --omit=dev --no-audit --no-fund \
    && prune-other-platforms.sh node_modules \
    && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.cts' -o -name '*.d.mts' -o -name '*.js.map' \
         -o -name '*.cjs.map' -o -name '*.mjs.map' -o -name '*.ts.map' \) -delete

# 3. init: Debian's static tini, PID 1 of the image (forwards SIGTERM to modelctl, reaps zombies), so roles
#    without their own signal handling (cleanup --once, deploy) still stop when the kubelet or docker asks
FROM node:24-slim AS init
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends tini >/dev/null \
    && cp /usr/bin/tini-static /tini && /tini --version

# 4. runtime: node, tini, the bundled CLI, production node_modules; nothing writable needed.
#    Cold start: Node's compile cache (V8 code of every module) is filled here, by the uids that run modelctl
#    (Node keeps one folder per version and uid: 1000, and 0 for an agent DaemonSet run as root), so a new pod
#    reads compiled code from the read-only image instead of compiling modelctl and its dependencies on every
#    start. Only the top folder is uid 1000's (to add its own); uid 0's stays root's, readable without
#    CAP_DAC_OVERRIDE.
FROM node:24-slim AS runtime
ENV NODE_ENV=production
ENV NODE_COMPILE_CACHE=/app/.compile-cache
# onnxruntime-node 1.30 reports telemetry by default (resolves a Microsoft host, writes a device id under ~/.cache)
ENV ORT_DISABLE_TELEMETRY=1
WORKDIR /app
COPY --from=init /tini /usr/bin/tini
COPY --from=deps /app/node_modules ./node_modules
# the bundle only (tsc's per-file output in dist/ is for development)
COPY --from=build /app/dist/bundle ./dist/bundle
COPY package.json ./
RUN chmod 0755 /app/dist/bundle/modelctl.js && ln -s /app/dist/bundle/modelctl.js /usr/local/bin/modelctl \
    && mkdir -p /app/.compile-cache && node dist/bundle/warm-compile-cache.js && chown 1000:1000 /app/.compile-cache
USER 1000:1000
RUN node dist/bundle/warm-compile-cache.js
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "modelctl"]
# last, so a new commit rebuilds no layer above: what the image is and where it comes from
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="modelctl" \
      org.opencontainers.image.description="Serverless model serving on Knative with node-local warm caches" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"

# 5. python (`make image-python`, modelctl:<version>-python): the runtime plus Python 3.11 (Debian's), MLflow,
#    scikit-learn, XGBoost and LightGBM in /opt/python, for models served through MLflow's pyfunc (serve picks it
#    for every model without the onnx flavor; SERVE_PYTHON points at it). Pins: functions/serve/pyfunc/
#    requirements-image.txt under testkit/peers/constraints.txt. The egress CA reaches pip as the same `npm-ca` secret.
FROM runtime AS python
USER 0:0
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3.11 python3.11-venv libgomp1 >/dev/null \
    && rm -rf /var/lib/apt/lists/*
COPY functions/serve/pyfunc/requirements-image.txt testkit/peers/constraints.txt /tmp/pyfunc/
RUN --mount=type=secret,id=npm-ca --mount=type=cache,id=modelctl-pip,target=/root/.cache/pip,sharing=locked \
    if [ -s /run/secrets/npm-ca ]; then export PIP_CERT=/run/secrets/npm-ca; fi \
    && python3.11 -m venv /opt/python \
    && /opt/python/bin/pip install --quiet --disable-pip-version-check \
       -r /tmp/pyfunc/requirements-image.txt -c /tmp/pyfunc/constraints.txt \
    && rm -rf /tmp/pyfunc && /opt/python/bin/python -c "import mlflow.pyfunc, sklearn, xgboost, lightgbm"
ENV SERVE_PYTHON=/opt/python/bin/python
# MLflow writes nothing it needs to a read-only root: no telemetry, no tracking URI probe at import
ENV MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true
USER 1000:1000
