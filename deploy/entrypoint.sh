#!/bin/sh
# The hub's container entrypoint: the PostgreSQL password from a file (a compose or Kubernetes secret)
# into PGPASSWORD, which libpq reads, so the password is in no image, no team.yaml and no `docker
# inspect`. Then the command (team-table up ...).
set -eu
if [ -n "${PGPASSWORD_FILE:-}" ]; then
    if [ ! -r "$PGPASSWORD_FILE" ]; then
        echo "team-table: $PGPASSWORD_FILE is not readable by uid $(id -u); on the host: sudo chown $(id -u) FILE" >&2
        exit 78
    fi
    PGPASSWORD="$(cat "$PGPASSWORD_FILE")"  # without its trailing newline, as the postgres image reads it
    export PGPASSWORD
    unset PGPASSWORD_FILE
fi
exec "$@"
