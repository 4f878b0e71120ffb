// What the services use: the boundary (provider.ts) and SMS_PROVIDER's choice (providers.ts);
// Twilio's receipt mapping, for its signed callback route. The rest of each provider stays
// inside its module; the providers' factories are exported for the tests and benches that
// build one against a fake.
export * from './provider';
export * from './providers';
export { twilioReceipt, twilioSender } from './twilio';
export { logSender } from './log';
export { aliyunReceiptLookUp, aliyunSender, aliyunSmsClient, foundByOutId } from './aliyun';
