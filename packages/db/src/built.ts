/**
 * Whether this code runs from a bundle of `npm run build` (dist/*.mjs, the image) rather than
 * from the TypeScript sources (tests, npm start): files found beside the code (migrations/,
 * the sealing thread's entry) are found at other places then. In a bundle this module's URL
 * is the bundle's own.
 */
export const RUNS_BUILT = !import.meta.url.endsWith('.ts');
