export * from './scan';
export * from './scan-for';
export * from './sweep';
