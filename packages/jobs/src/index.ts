export * from './catalogue';
export * from './queues';
