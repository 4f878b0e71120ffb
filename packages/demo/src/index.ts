// Demo data for `npm start`, the tests and the benchmarks; `@lr/demo/load` puts it in a store.
// No service imports it, so none of it is in the image (scripts/build.mjs bundles what the
// services and commands import).
export * from './categories';
export * from './licenses';
export * from './history';
