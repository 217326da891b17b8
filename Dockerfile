# syntax=docker/dockerfile:1
# Build stage: compile the service (and the support console's script) with the dev dependencies.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
COPY libs ./libs
COPY scripts ./scripts
RUN npm run build

# Runtime stage: production dependencies only, a numeric non-root user (so Kubernetes can verify
# runAsNonRoot), nothing written outside /tmp, so the root filesystem can be mounted read-only.
FROM node:24-slim AS runtime
ENV NODE_ENV=production \
    TEMPLATES_DIR=/app/templates \
    HTTP_PORT=8080 \
    TMPDIR=/tmp
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# A heap limit for the service (set after the install, so npm runs without it): without one V8
# sizes the heap from the host's memory and lets the used heap grow to three or four times its
# live data between full collections. In `npm run bench`: RSS peak 565-568 MB without, 362-366 MB
# with, at the same throughput and about 8 % more CPU per command (README, Benchmark). Keeps a pod
# under the base Deployment's 512Mi memory request; the Deployment's env can override it.
ENV NODE_OPTIONS=--max-old-space-size=320
COPY --from=build /app/dist ./dist
COPY templates ./templates
USER 1000:1000
EXPOSE 8080
STOPSIGNAL SIGTERM
# Exec form, so SIGTERM reaches Node and the consumer drains. The same start command the tests run.
ENTRYPOINT ["node", "--disable-warning=TimeoutNegativeWarning", "dist/src/main.js"]
