-- The services connect as license_reminders_app, a role with rights on rows only; the
-- migration connects as the owner of the tables (deploy/postgres/10-roles.sh makes both
-- roles in docker-compose.yml's PostgreSQL). A service that is taken over can then read and
-- write rows, as it must, but not drop, alter or create a table, nor read another database.
-- Where no such role exists (npm start, the tests, a server of one's own) this does nothing.
--
-- What the services do needs no more: a CSV download's COPY ... TO STDOUT is a select, and
-- the API cancels it with pg_cancel_backend on a backend of its own role.
do $$
begin
  if exists (select from pg_roles where rolname = 'license_reminders_app') then
    grant select, insert, update, delete on all tables in schema public to license_reminders_app;
    grant usage, select on all sequences in schema public to license_reminders_app;
    -- the migrations' own ledger is the migration's business
    revoke all on kysely_migration, kysely_migration_lock from license_reminders_app;
    -- the tables and sequences that later migrations create (as this same role) too
    alter default privileges in schema public grant select, insert, update, delete on tables to license_reminders_app;
    alter default privileges in schema public grant usage, select on sequences to license_reminders_app;
  end if;
end
$$;
