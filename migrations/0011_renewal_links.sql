-- Personal renewal links (docs/rules.md, "Renewal links"): PUBLIC_BASE_URL/r/{token}.

-- One token per outgoing message, made with the message: 12 bytes of a random UUID (90
-- random bits; the UUID's version and variant bits are fixed) as 16 URL-safe characters.
-- The same on every retry of the message, so the link a holder got always works. Every
-- message has one (the messages already stored get theirs here): a message is never sent
-- without its link.
alter table outgoing_messages add column link_token text not null unique
  default translate(encode(substring(uuid_send(gen_random_uuid()) from 1 for 12), 'base64'), '+/', '-_');

-- Each opening of a link: when, and which message's. Nothing of the visitor is kept.
create table link_openings (
  id         bigint generated always as identity primary key,
  message_id integer not null references outgoing_messages (id),
  opened_at  timestamptz not null default now()
);
create index link_openings_by_message on link_openings (message_id);
