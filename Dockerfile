# syntax=docker/dockerfile:1
# Build stage: compile TypeScript with the dev dependencies.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
COPY libs ./libs
COPY scripts ./scripts
RUN npm run build

# Runtime stage: production dependencies only, non-root, read-only root filesystem friendly.
FROM node:24-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY templates ./templates
ENV TEMPLATES_DIR=/app/templates \
    HTTP_PORT=8080
USER node
EXPOSE 8080
# Exec form, so SIGTERM reaches Node and the consumer drains. Same start command as the tests run.
ENTRYPOINT ["node", "--disable-warning=TimeoutNegativeWarning", "dist/src/main.js"]
