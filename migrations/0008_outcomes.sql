-- What the reminders achieved (the figures of GET /v1/stats).

-- A renewed cycle is credited to its last reminder that had reached the holder when the
-- renewal was recorded, with the channels that had reached them with it. It is written
-- then, not worked out when asked: a receipt that arrives after the renewal (an SMS found
-- undelivered, a push sent late) must not move credit that the figures already gave.
alter table reminders add column credited_channels text check (credited_channels in ('sms', 'push', 'both'));

-- Reports select reminders by their scan date.
create index reminders_by_as_of on reminders (as_of);
