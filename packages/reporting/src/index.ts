export * from './filter';
export * from './stats';
export * from './ledger';
export * from './forecast';
export * from './follow-ups';
