-- GET /v1/forecast reads every active licence whose expiry date falls in the forecast's days
-- plus the longest lead (about 2.3 million of 10,000,000 for a year), with its category, id,
-- phone, app account and region: in expiry order from this index alone, instead of from rows
-- scattered over the whole table (a year's expiries touch nearly every page of it).
create index licenses_active_for_forecast on licenses (expires_on)
  include (category_code, id, phone, platform_user_id, region_code) where status = 'active';
