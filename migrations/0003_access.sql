-- API keys (stored only as SHA-256 hashes) and the audit log of admin writes.

create table api_keys (
  id           integer generated always as identity primary key,
  name         text not null,
  role         text not null check (role in ('admin', 'operator', 'viewer')),
  key_hash     bytea not null unique,
  created_at   timestamptz not null default now(),
  revoked_at   timestamptz,
  last_used_at timestamptz
);

create table audit_log (
  id         bigint generated always as identity primary key,
  api_key_id integer references api_keys (id),
  actor      text not null,
  action     text not null,
  target     text not null,
  before     jsonb,
  after      jsonb,
  created_at timestamptz not null default now()
);
