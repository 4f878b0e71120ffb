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

-- Claims now expire (CLAIM_LEASE_SECONDS), and a message whose claim expired is sent again.
-- Messages left 'sending' by workers that died before this change may be weeks old, and
-- many were sent: they are closed as failed ('abandoned') rather than sent with stale text.
with abandoned as (
  update outgoing_messages
     set status = 'failed', error_code = 'abandoned', updated_at = now(),
         error_message = 'its worker stopped mid-send more than a day before claims could be taken over; it may or may not have been sent'
   where status = 'sending' and locked_at < now() - interval '1 day'
  returning id
), followed as (
  update deliveries d set status = 'failed', updated_at = now()
    from abandoned a
   where d.message_id = a.id and d.status <> 'cancelled'
  returning d.id
)
insert into delivery_events (delivery_id, status, cause)
select id, 'failed', 'abandoned: claim older than a day at migration 0007' from followed;
