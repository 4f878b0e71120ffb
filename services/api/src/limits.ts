/**
 * Limits that a route and the protection in front of every route share: kept here so that
 * neither imports the other.
 */

/** The most licences in one POST /v1/licenses/batch. */
export const MAX_BATCH = 10_000;

/**
 * The longest array any route takes (a batch of licences). protection.ts checks it before the
 * schemas: Ajv reports every error (allErrors), so a million wrong items in a field that takes
 * two would cost seconds of CPU to describe.
 */
export const MAX_ARRAY_ITEMS = MAX_BATCH;
