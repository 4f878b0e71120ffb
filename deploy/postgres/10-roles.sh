#!/bin/sh
# The database's two roles, made by the postgres image on its first start (docker-compose.yml
# mounts this file into /docker-entrypoint-initdb.d; it runs as the superuser):
#   license_reminders_owner  owns the database, its public schema and every table: the
#                            migration connects as it
#   license_reminders_app    the services: rows only (select, insert, update, delete and the
#                            identity sequences), granted by migrations/0014_app_role.sql
# Safe to run again, and to run by hand on a database made before these roles existed: its
# tables, owned by the superuser, are handed to the owner, and the next migration run (as
# the owner) grants the app role its rights.
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/10-roles.sh
set -eu
: "${DB_OWNER_PASSWORD:?set DB_OWNER_PASSWORD}"
: "${DB_APP_PASSWORD:?set DB_APP_PASSWORD}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
  --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-license_reminders}" \
  -v owner_password="$DB_OWNER_PASSWORD" -v app_password="$DB_APP_PASSWORD" <<'SQL'
select not exists (select from pg_roles where rolname = 'license_reminders_owner') as make_owner,
       not exists (select from pg_roles where rolname = 'license_reminders_app') as make_app \gset
\if :make_owner
create role license_reminders_owner;
\endif
\if :make_app
create role license_reminders_app;
\endif
alter role license_reminders_owner with login nosuperuser nocreatedb nocreaterole password :'owner_password';
alter role license_reminders_app with login nosuperuser nocreatedb nocreaterole password :'app_password';

-- The owner of a database owns its public schema too (pg_database_owner, PostgreSQL 15),
-- so the migration can create tables there, and no other role can.
select format('alter database %I owner to license_reminders_owner', current_database()) \gexec
-- A database made before the roles: its tables (their identity sequences and indexes with
-- them) go to the owner, so that later migrations can alter them.
select format('alter table %I.%I owner to license_reminders_owner', schemaname, tablename)
  from pg_tables where schemaname = 'public' and tableowner <> 'license_reminders_owner' \gexec
SQL
