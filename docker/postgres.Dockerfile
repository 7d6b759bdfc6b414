# Stand-in for the official postgres:15 image, for machines that cannot reach an image registry.
# scripts/container-test.sh builds it (tagged docker.io/library/postgres:15, the name compose.yaml
# uses) only when that image is neither present nor pullable; with a registry the real one is used.
# It is Debian 12's PostgreSQL 15 behind an entrypoint that honours what compose.yaml sets, as the
# official image does: POSTGRES_USER (a superuser), POSTGRES_PASSWORD, POSTGRES_DB,
# POSTGRES_INITDB_ARGS, the cluster in PGDATA=/var/lib/postgresql/data (a volume), listening on
# every address with password (scram-sha-256) authentication over TCP.
# Build context: this directory, e.g.  podman build -f docker/postgres.Dockerfile -t postgres:15 docker
FROM debian:12-slim
# No main cluster from the package: the entrypoint creates the one the volume holds.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
 && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/no-main-cluster.conf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data \
 && install -d -o postgres -g postgres -m 2775 /var/run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 0755 /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
# The official image starts as root and drops to postgres; this one is postgres from the start, and
# a new named volume takes the data directory's owner and mode from the image.
USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
# SIGINT is PostgreSQL's fast shutdown (the official image's choice too).
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
