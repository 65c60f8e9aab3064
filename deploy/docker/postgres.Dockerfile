# syntax=docker/dockerfile:1
# PostgreSQL 15 from Debian (docs/deploy.md). At its first start deploy/docker/postgres/entrypoint.sh
# initialises the cluster; at every start it creates one role and one database per service
# (POSTGRES_DATABASES) with the password from /run/secrets/pg-<role>:
#   podman build --format docker -f deploy/docker/postgres.Dockerfile -t eventify/postgres .
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
 && mkdir -p /var/lib/postgresql/data /run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
COPY deploy/docker/postgres/entrypoint.sh /usr/local/bin/postgres-entrypoint
USER postgres
ENV PGDATA=/var/lib/postgresql/data/pgdata
VOLUME /var/lib/postgresql/data
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint"]
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=5 \
  CMD /usr/lib/postgresql/15/bin/pg_isready -q -h 127.0.0.1 || exit 1
