export * from './aliyun';
export * from './log';
export * from './provider';
export * from './providers';
export * from './twilio';
