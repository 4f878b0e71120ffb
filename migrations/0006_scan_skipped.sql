-- Each scan records, besides what it created, the licences of its windows that already
-- had that window's reminder: a re-run scan shows them all skipped, none created.
alter table scans add column skipped integer not null default 0;
