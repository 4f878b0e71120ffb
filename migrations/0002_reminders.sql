-- Scans, reminders, outgoing messages and deliveries: the outbox (docs/guarantees.md).

create table scans (
  id                integer generated always as identity primary key,
  as_of             date not null,
  trigger           text not null check (trigger in ('cron', 'api', 'command')),
  status            text not null default 'running' check (status in ('running', 'succeeded', 'failed')),
  started_at        timestamptz not null default now(),
  finished_at       timestamptz,
  reminders_created integer not null default 0,
  messages_queued   integer not null default 0,
  undeliverable     integer not null default 0,
  error             text
);

-- At most one reminder per (licence, expiry date, lead), ever: the unique key is what
-- makes a repeated or concurrent scan harmless.
create table reminders (
  id          integer generated always as identity primary key,
  license_id  integer not null references licenses (id),
  expires_on  date not null,
  lead_days   integer not null check (lead_days between 1 and 366),
  as_of       date not null,
  days_left   integer not null check (days_left >= 0),
  scan_id     integer not null references scans (id),
  outcome     text not null default 'open' check (outcome in ('open', 'renewed', 'expired')),
  outcome_at  timestamptz,
  created_at  timestamptz not null default now(),
  unique (license_id, expires_on, lead_days)
);
create index reminders_by_scan on reminders (scan_id);
create index reminders_open_by_license on reminders (license_id) where outcome = 'open';

-- One outgoing message per recipient, channel and scan; it may carry several reminders.
create table outgoing_messages (
  id                  integer generated always as identity primary key,
  scan_id             integer not null references scans (id),
  channel             text not null check (channel in ('sms', 'push')),
  -- E.164 phone for sms, platform user id for push
  recipient           text not null,
  status              text not null default 'pending'
                      check (status in ('pending', 'queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'cancelled')),
  attempts            integer not null default 0,
  -- the worker that holds the claim while status = 'sending'
  locked_by           text,
  locked_at           timestamptz,
  -- what was sent, as rendered at send time
  title               text,
  body                text,
  url                 text,
  provider_message_id text unique,
  error_code          text,
  error_message       text,
  sent_at             timestamptz,
  delivered_at        timestamptz,
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now(),
  unique (scan_id, channel, recipient)
);
create index outgoing_messages_unfinished on outgoing_messages (id)
  where status in ('pending', 'queued', 'sending');
-- The daily cap counts each phone's SMS of the day.
create index outgoing_messages_sms_by_recipient on outgoing_messages (recipient, sent_at) where channel = 'sms';

-- One delivery per (reminder, channel); it follows its message unless cancelled alone
-- (a renewed licence dropped from a message that still carries others).
create table deliveries (
  id          integer generated always as identity primary key,
  reminder_id integer not null references reminders (id),
  channel     text not null check (channel in ('sms', 'push')),
  message_id  integer not null references outgoing_messages (id),
  status      text not null default 'pending'
              check (status in ('pending', 'queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'cancelled')),
  updated_at  timestamptz not null default now(),
  unique (reminder_id, channel)
);
create index deliveries_by_message on deliveries (message_id);

-- Every state change of a delivery, with time and cause: the work ledger.
create table delivery_events (
  id          bigint generated always as identity primary key,
  delivery_id integer not null references deliveries (id),
  status      text not null,
  cause       text not null,
  detail      jsonb,
  created_at  timestamptz not null default now()
);
create index delivery_events_by_delivery on delivery_events (delivery_id);

-- The licensee's in-app inbox: written once per outgoing push, before the gateway call.
create table inbox_messages (
  id               integer generated always as identity primary key,
  platform_user_id text not null,
  message_id       integer not null unique references outgoing_messages (id),
  title            text not null,
  body             text not null,
  url              text not null,
  created_at       timestamptz not null default now(),
  read_at          timestamptz
);
create index inbox_by_user on inbox_messages (platform_user_id, id desc);
