-- Retention of rendered message text (docs/rules.md, "How long messages are kept"): the
-- scheduler's upkeep erases what was sent once it is MESSAGE_RETENTION_DAYS old.

-- The messages whose text is still kept, by age: each batch of the erasure reads its oldest
-- directly, and an erased message leaves the index.
create index outgoing_messages_text_kept on outgoing_messages (created_at)
  where body is not null or title is not null;

-- The in-app inbox by age: old messages are deleted in batches, oldest first.
create index inbox_messages_by_created_at on inbox_messages (created_at);
