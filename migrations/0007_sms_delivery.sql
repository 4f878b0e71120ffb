-- Phones that must get no SMS: Twilio answered 21610 (the recipient replied STOP), and
-- sending again would only fail again and annoy the carrier. An operator clears a number
-- (DELETE /v1/suppressions/{phone}) once its holder has asked for reminders again.
create table sms_suppressions (
  phone       text primary key,
  error_code  text not null,
  reason      text not null,
  -- the message Twilio refused; kept for the ledger, not a foreign key, so that a
  -- suppression outlives its message's data
  message_id  integer,
  created_at  timestamptz not null default now()
);

-- The segments an SMS was billed as (70 UCS-2 characters in one, 67 per segment once
-- split): carriers bill, and filter, by segment. Null for a push.
alter table outgoing_messages add column segments smallint;
