export * from './batch';
export * from './deliver';
export * from './provider-error';
export * from './worker';
export * from './service';
