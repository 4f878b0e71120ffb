-- The SMS waiting for a receipt, by send time (replaces 0016's index on id). An SMS that
-- never gets a final status stays `sent` for ever, so the index keeps growing; the
-- reconciliation looks up only those sent between ALIYUN_SMS_RECONCILE_MINUTES and 72 hours
-- ago, and in (sent_at, id) order it reads that window alone, whatever lies before it.
create index outgoing_messages_awaiting_receipt_by_sent_at on outgoing_messages (sent_at, id)
  where channel = 'sms' and status = 'sent';
drop index outgoing_messages_awaiting_receipt;
