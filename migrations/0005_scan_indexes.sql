-- The daily scan reads, per category and lead, the licences whose expiry date lies in the
-- window, only to find the few that entered it that day (bench/README.md). With the id in
-- the index it reads them from the index alone, not from the rows scattered over the table.
drop index licenses_active_by_expiry;
create index licenses_active_by_expiry on licenses (category_code, expires_on) include (id) where status = 'active';

-- The open reminders by date: the scan looks up which licences of its windows already have
-- theirs, and the daily expiry finds those whose date has passed.
create index reminders_open_by_expiry on reminders (expires_on) include (license_id, lead_days) where outcome = 'open';
