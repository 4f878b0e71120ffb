export * from './database';
export * from './fake-http';
export * from './fake-push-gateway';
export * from './fake-twilio';
export * from './redis';
export * from './services';
export * from './processes';
export * from './fixtures';
