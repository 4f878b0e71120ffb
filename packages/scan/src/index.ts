export * from './scan';
export * from './sweep';
