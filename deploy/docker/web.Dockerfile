# syntax=docker/dockerfile:1
# The web UI (docs/deploy.md): Next.js's static export built with Debian's Node.js, served by
# nginx as a non-root user, which also proxies the APIs to the services by their Compose names:
#   podman build --format docker -f deploy/docker/web.Dockerfile -t eventify/web .

FROM debian:bookworm-slim AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# npm trusts the system's certificate store (ca-certificates) rather than Node's built-in list.
ENV NODE_OPTIONS=--use-openssl-ca NEXT_TELEMETRY_DISABLED=1
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
RUN npx --no-install next build

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx-light curl \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /etc/nginx/sites-enabled/* \
 && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin eventify
COPY deploy/docker/nginx.conf /etc/nginx/nginx.conf
COPY --from=builder /web/out /usr/share/eventify/web
USER 10001
EXPOSE 8080
# Everything nginx writes (pid, temporary files) is under /tmp: the root filesystem can be read-only.
CMD ["nginx", "-g", "daemon off;"]
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -sf -o /dev/null http://127.0.0.1:8080/ || exit 1
