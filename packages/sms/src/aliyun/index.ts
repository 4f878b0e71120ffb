export * from './client';
export * from './errors';
export * from './look-up';
export * from './receipts';
export * from './reports';
export * from './sender';
