-- Alibaba Cloud SMS (SMS_PROVIDER=aliyun; docs/aliyun.md): mainland
-- carriers take notification SMS only as a pre-approved template plus variables. A category
-- names its approved template and maps each of the template's variables to one of our
-- templates ({ "name": "{licenseName}", "token": "{renewalToken}" }). Null where the county
-- sends through Twilio or the log provider; the API requires both for a category with the
-- sms channel when SMS_PROVIDER=aliyun.
alter table categories
  add column aliyun_template_code   text check (aliyun_template_code ~ '^SMS_[0-9]{1,20}$'),
  add column aliyun_template_params jsonb check (jsonb_typeof(aliyun_template_params) = 'object');
