#!/bin/sh
# Executed by the postgres image entrypoint only when the pgdata volume is
# empty. Creates Authelia's role and database; the password comes from the
# compose secret, so no value is stored in git.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set=pw="$(cat /run/secrets/authelia_postgres_password)" <<'SQL'
CREATE ROLE authelia LOGIN PASSWORD :'pw';
CREATE DATABASE authelia OWNER authelia;
SQL
