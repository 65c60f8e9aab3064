# syntax=docker/dockerfile:1
# Apache Kafka in KRaft mode (docs/deploy.md): the same Maven artifacts as the local stack
# (infra/kafka/pom.xml) on Debian's Java 17 runtime, as a non-root user. Every node is
# configured from the environment by deploy/docker/kafka/entrypoint.sh:
#   podman build --format docker -f deploy/docker/kafka.Dockerfile -t eventify/kafka .

FROM debian:bookworm-slim AS jars
# (the man page folder must exist for the JRE's post-install script)
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends maven openjdk-17-jre-headless ca-certificates-java \
 && rm -rf /var/lib/apt/lists/*
COPY infra/kafka/pom.xml /kafka/pom.xml
RUN mvn -q -B -Dstyle.color=never -f /kafka/pom.xml dependency:copy-dependencies \
      -DoutputDirectory=/kafka/lib -DincludeScope=runtime

FROM debian:bookworm-slim
# (the man page folder must exist for the JRE's post-install script)
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
 && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin kafka \
 && mkdir -p /var/lib/kafka && chown kafka /var/lib/kafka
COPY --from=jars /kafka/lib /opt/kafka/lib
COPY infra/kafka/log4j2.properties /opt/kafka/log4j2.properties
COPY deploy/docker/kafka/entrypoint.sh /opt/kafka/entrypoint.sh
USER 10001
VOLUME /var/lib/kafka
EXPOSE 9092 9093
ENV KAFKA_HEAP_OPTS="-Xms128m -Xmx384m"
ENTRYPOINT ["/opt/kafka/entrypoint.sh"]
# Healthy once the broker's client listener accepts connections (a JVM per probe would cost a
# core-second every few seconds on every node).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=5 \
  CMD bash -c '</dev/tcp/127.0.0.1/9092' || exit 1
