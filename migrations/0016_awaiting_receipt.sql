-- SMS sent whose receipt has not come: the scheduler looks up those older than
-- ALIYUN_SMS_RECONCILE_MINUTES at Alibaba Cloud (QuerySendDetails), in id order. A receipt
-- takes the message out of the index, so it holds only the few still waiting.
create index outgoing_messages_awaiting_receipt on outgoing_messages (id)
  where channel = 'sms' and status = 'sent';
