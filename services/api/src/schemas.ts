import { Type } from '@sinclair/typebox';

/** 'YYYY-MM-DD'; whether it is a real calendar day is checked where it is used. */
export const BusinessDateString = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', examples: ['2026-03-01'] });
