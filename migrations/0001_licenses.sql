-- Licence categories and the licence store. Business dates are `date` (no time zone):
-- `expires_on` is the last valid day in REMINDER_TIMEZONE.

create table categories (
  code          text primary key check (code ~ '^[a-z0-9-]{2,40}$'),
  name          text not null check (name <> ''),
  -- distinct whole days, kept in descending order: {60,30,10}
  lead_days     integer[] not null default '{60,30,10}'
                check (cardinality(lead_days) between 1 and 366 and 1 <= all(lead_days) and 366 >= all(lead_days)),
  channels      text[] not null check (cardinality(channels) >= 1 and channels <@ '{sms,push}'),
  sms_template  text not null,
  push_title    text not null,
  push_body     text not null,
  renewal_url   text not null,
  consult_phone text not null,
  enabled       boolean not null default true,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);

create table licenses (
  id               integer generated always as identity primary key,
  category_code    text not null references categories (code),
  license_no       text not null check (license_no <> ''),
  holder_name      text not null,
  holder_type      text not null check (holder_type in ('enterprise', 'individual')),
  -- The id number (credit code or resident id) is stored sealed (AES-256-GCM), with a keyed
  -- hash to find and compare it and a masked copy to show; never in the clear.
  holder_id_sealed bytea not null,
  holder_id_hash   bytea not null,
  holder_id_masked text not null,
  -- E.164 mainland mobile (the API refuses anything else); null means no SMS channel
  phone            text check (phone ~ '^\+861[3-9][0-9]{9}$'),
  platform_user_id text,
  region_code      char(6) not null check (region_code ~ '^[0-9]{6}$'),
  valid_from       date not null,
  expires_on       date not null,
  status           text not null default 'active' check (status in ('active', 'revoked')),
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  unique (category_code, license_no),
  check (valid_from <= expires_on)
);

create index licenses_by_holder on licenses (holder_id_hash);

-- The daily scan reads active licences by expiry date.
create index licenses_active_by_expiry on licenses (category_code, expires_on) where status = 'active';

-- A later expires_on is a renewal; the report counts renewals before expiry.
create table renewals (
  id              integer generated always as identity primary key,
  license_id      integer not null references licenses (id),
  old_expires_on  date not null,
  new_expires_on  date not null check (new_expires_on > old_expires_on),
  created_at      timestamptz not null default now()
);
create index renewals_by_license on renewals (license_id);
