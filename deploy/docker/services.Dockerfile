# syntax=docker/dockerfile:1
# The seven services from one Dockerfile (docs/deploy.md): one builder stage compiles the
# release preset once, then one small target per service on debian:bookworm-slim with only the
# runtime libraries. Build a service with `--target <name>`, e.g.
#   podman build --format docker -f deploy/docker/services.Dockerfile --target order -t eventify/order .
# Configuration comes only from the environment (EVENTIFY_*), logs go to stdout.

FROM debian:bookworm-slim AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake ninja-build pkg-config \
      librdkafka-dev libssl-dev libpq-dev libulfius-dev libmicrohttpd-dev libwslay-dev \
      libgnutls28-dev libjansson-dev uuid-dev libcmocka-dev libunistring-dev libcurl4-gnutls-dev \
      libprotobuf-c-dev protobuf-c-compiler \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt CMakePresets.json ./
COPY cmake cmake
COPY contracts/openapi contracts/openapi
COPY infra/topology.json infra/topology.json
COPY libs libs
COPY services services
COPY tools tools
# Only the service binaries (not the unit tests), stripped: debug info stays in the builder.
RUN cmake --preset release >/dev/null \
 && cmake --build --preset release --target eventify-order eventify-orchestrator \
      eventify-inventory eventify-shipping eventify-payment eventify-read-model \
      eventify-notification \
 && strip build/release/bin/eventify-*

# What every service needs at run time: the shared libraries, curl for the health check, a
# non-root user. The root filesystem can be mounted read-only: a service writes nothing.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends librdkafka1 libpq5 libulfius2.7 libmicrohttpd12 \
      libgnutls30 libwslay1 libjansson4 libuuid1 libssl3 libunistring2 libcurl3-gnutls \
      libprotobuf-c1 curl \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
 && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin eventify
COPY deploy/docker/service-entrypoint.sh /usr/local/bin/eventify-entrypoint
# Inside a container a service listens on every interface (the default is 127.0.0.1) and
# logs to stdout; migrations live beside the binary.
ENV EVENTIFY_HTTP_BIND=0.0.0.0 \
    EVENTIFY_LOG_FILE=/dev/stdout \
    EVENTIFY_MIGRATIONS_DIR=/usr/share/eventify/migrations
USER 10001
ENTRYPOINT ["/usr/local/bin/eventify-entrypoint"]
CMD ["/usr/local/bin/eventify-service"]
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -sf -o /dev/null "http://127.0.0.1:${EVENTIFY_HTTP_PORT}/ready" || exit 1

FROM runtime AS order
COPY --from=builder /src/build/release/bin/eventify-order /usr/local/bin/eventify-service
COPY --from=builder /src/services/order/migrations /usr/share/eventify/migrations
ENV EVENTIFY_HTTP_PORT=8081
EXPOSE 8081

FROM runtime AS orchestrator
COPY --from=builder /src/build/release/bin/eventify-orchestrator /usr/local/bin/eventify-service
COPY --from=builder /src/services/orchestrator/migrations /usr/share/eventify/migrations
ENV EVENTIFY_HTTP_PORT=8082
EXPOSE 8082

FROM runtime AS inventory
COPY --from=builder /src/build/release/bin/eventify-inventory /usr/local/bin/eventify-service
COPY --from=builder /src/services/inventory/migrations /usr/share/eventify/migrations
COPY --from=builder /src/services/inventory/seed/products.json /usr/share/eventify/seed/products.json
ENV EVENTIFY_HTTP_PORT=8083 EVENTIFY_SEED_CATALOG=/usr/share/eventify/seed/products.json
EXPOSE 8083

FROM runtime AS shipping
COPY --from=builder /src/build/release/bin/eventify-shipping /usr/local/bin/eventify-service
COPY --from=builder /src/services/shipping/migrations /usr/share/eventify/migrations
ENV EVENTIFY_HTTP_PORT=8084
EXPOSE 8084

FROM runtime AS payment
COPY --from=builder /src/build/release/bin/eventify-payment /usr/local/bin/eventify-service
COPY --from=builder /src/services/payment/migrations /usr/share/eventify/migrations
ENV EVENTIFY_HTTP_PORT=8085
EXPOSE 8085

FROM runtime AS read-model
COPY --from=builder /src/build/release/bin/eventify-read-model /usr/local/bin/eventify-service
COPY --from=builder /src/services/read-model/migrations /usr/share/eventify/migrations
ENV EVENTIFY_HTTP_PORT=8086
EXPOSE 8086

FROM runtime AS notification
COPY --from=builder /src/build/release/bin/eventify-notification /usr/local/bin/eventify-service
COPY --from=builder /src/services/notification/migrations /usr/share/eventify/migrations
ENV EVENTIFY_HTTP_PORT=8087
EXPOSE 8087

# The one-shot topic creation of the Compose stack: infra/scripts/topics.py with Debian's
# Python Kafka client, reading the topology table's JSON export.
FROM debian:bookworm-slim AS topics
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-confluent-kafka \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*
COPY infra/topology.json /opt/eventify/infra/topology.json
COPY infra/scripts/topics.py /opt/eventify/infra/scripts/topics.py
USER 65534
CMD ["python3", "/opt/eventify/infra/scripts/topics.py"]
