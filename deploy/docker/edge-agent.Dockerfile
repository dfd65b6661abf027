# syntax=docker/dockerfile:1
# The edge agent as a container (the compose stack's demo web hosts). Build context: the repo root.
#   docker build -f deploy/docker/edge-agent.Dockerfile -t rla/edge-agent .
# The runtime installs the same `npm pack` tarball the Ansible role installs on hosts, with the same npm command
# (offline: the tarball is one bundled file with no npm dependencies).

FROM node:20 AS build
WORKDIR /src
COPY . .
# npm pack runs the agent's prepack: the CLI bundled with esbuild, every npm dependency inlined.
RUN npm ci --no-audit --no-fund \
  && mkdir /pkg \
  && npm pack -w @rla/edge-agent --pack-destination /pkg

FROM node:20-slim AS runtime
COPY --from=build /pkg/ /tmp/pkg/
RUN npm install --global --prefix /opt/edge-agent --offline --no-audit --no-fund /tmp/pkg/*.tgz \
  && rm -rf /tmp/pkg /root/.npm \
  && mkdir -p /var/lib/edge-agent /etc/edge-agent \
  && chown node:node /var/lib/edge-agent
ENV PATH=/opt/edge-agent/bin:$PATH \
  NODE_ENV=production \
  RLA_HEALTH_URL=http://127.0.0.1:9464/healthz
# Unprivileged; reads the web server's logs from a read-only volume and writes only its state dir.
USER node
VOLUME ["/var/lib/edge-agent"]
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=6 \
  CMD ["node", "-e", "fetch(process.env.RLA_HEALTH_URL).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["edge-agent"]
CMD ["run", "--config", "/etc/edge-agent/agent.yaml"]
