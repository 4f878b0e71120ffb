-- Delivery receipts that arrived before their send was recorded (issue 14). Twilio may call
-- the status callback before the worker has written the MessageSid it was given (the record
-- is shared by the sends of a fraction of a second, and retried for a few seconds when the
-- database fails). Such a receipt is kept here, and applied in the transaction that records
-- the send (markSentMany). Only signed callbacks for a phone an SMS is being sent to are kept,
-- one row per id and status at most, and rows older than a day are dropped as new ones come.
create table early_receipts (
  provider_message_id text not null,
  status              text not null check (status in ('delivered', 'undelivered', 'failed')),
  error_code          text,
  error_message       text,
  received_at         timestamptz not null default now(),
  primary key (provider_message_id, status)
);

create index early_receipts_received_at on early_receipts (received_at);
