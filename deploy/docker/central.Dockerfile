# syntax=docker/dockerfile:1
# central (default target) and the one-shot provisioning tool (target `provision`). Build context: the repo root.
#   docker build -f deploy/docker/central.Dockerfile -t rla/central .
#   docker build -f deploy/docker/central.Dockerfile --target provision -t rla/provision .

FROM node:20 AS build
WORKDIR /src
COPY . .
# Compile, then drop dev dependencies so the runtime stages copy only what runs.
RUN npm ci --no-audit --no-fund \
  && npx tsc -b protocol central deploy \
  && npm prune --omit=dev --no-audit --no-fund

# Runtime files of the workspaces: package.json + dist (node_modules/@rla/* link to these folders).
FROM node:20-slim AS base
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules/ node_modules/
COPY --from=build /src/protocol/package.json protocol/
COPY --from=build /src/protocol/dist/ protocol/dist/
USER node

FROM base AS provision
COPY --from=build /src/deploy/package.json deploy/
COPY --from=build /src/deploy/dist/ deploy/dist/
ENTRYPOINT ["node", "/app/deploy/dist/provision/cli.js"]

FROM base AS runtime
COPY --from=build /src/central/package.json central/
COPY --from=build /src/central/dist/ central/dist/
ENV RLA_HEALTH_URL=http://127.0.0.1:9465/healthz
EXPOSE 9465
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=6 \
  CMD ["node", "-e", "fetch(process.env.RLA_HEALTH_URL).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/central/dist/cli.js"]
CMD ["run", "--config", "/etc/central/central.yaml"]
