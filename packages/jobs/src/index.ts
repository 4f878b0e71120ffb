export * from './catalogue';
export * from './counters';
export * from './queues';
