-- Follow-ups (docs/rules.md, "Follow-up"): the work list of holders the reminders did not
-- reach, or reached without a renewal days before the expiry date.

-- At most one per cycle (licence, expiry date), ever: whichever of a worker, a receipt, a
-- scan or a sweep notices first opens it, the others find it there.
create table follow_ups (
  id          integer generated always as identity primary key,
  license_id  integer not null references licenses (id),
  expires_on  date not null,
  reason      text not null check (reason in ('unreached', 'not_renewed')),
  status      text not null default 'open' check (status in ('open', 'closed')),
  resolution  text check (resolution in ('renewed', 'expired', 'revoked', 'handled')),
  opened_at   timestamptz not null default now(),
  closed_at   timestamptz,
  unique (license_id, expires_on),
  check ((status = 'open') = (resolution is null)),
  check ((status = 'open') = (closed_at is null))
);
-- The list's order, most urgent first; the open ones are few and read often.
create index follow_ups_by_expiry on follow_ups (expires_on, id);
create index follow_ups_open on follow_ups (expires_on, id) where status = 'open';

-- What staff did: each call, visit or message, with its result.
create table follow_up_actions (
  id           bigint generated always as identity primary key,
  follow_up_id integer not null references follow_ups (id),
  kind         text not null check (kind in ('call', 'visit', 'message')),
  result       text not null check (result in ('reached', 'unreachable', 'will_renew', 'declined', 'other')),
  note         text check (char_length(note) <= 500),
  -- the key and its name at the time, as in the audit log
  api_key_id   integer references api_keys (id),
  actor        text not null,
  created_at   timestamptz not null default now()
);
create index follow_up_actions_by_follow_up on follow_up_actions (follow_up_id, id);

-- The sweep opens the follow-ups that a worker or a receipt missed (two channels of one
-- reminder failing at the same moment) from the deliveries that failed lately.
create index delivery_events_failures on delivery_events (created_at) where status in ('failed', 'undelivered');
