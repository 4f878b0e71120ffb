/**
 * POST /v1/licenses/import: the HTTP side of the licence import (services/license-import.ts).
 * The route takes text/csv only, hands the request stream to the import unread, and turns
 * the import's outcome into the answer: a header nothing can be read under and a broken CSV
 * structure are 422s, an upload that broke off a 400; what is refused, and why, is told at
 * the top of license-csv.ts.
 */
import type { SealingThread, Database } from '@lr/db';
import { LICENSE_FIELDS } from '@lr/domain';
import type { Counters } from '@lr/jobs';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Readable } from 'node:stream';
import { auditActor } from '../audit';
import type { RequireRole } from '../auth';
import { ApiError } from '../errors';
import { LicenseCsvHeaderError } from '../license-csv';
import { importLicenses, MAX_LISTED_REJECTIONS } from '../services/license-import';

/** The body of a text/csv request: the request stream, unread. Private, so no hook walks into the stream. */
class CsvUpload {
  readonly #stream: Readable;
  constructor(stream: Readable) {
    this.#stream = stream;
  }
  get stream(): Readable {
    return this.#stream;
  }
  toJSON(): string {
    return '(text/csv stream)';
  }
}

const unsupported = (message: string) => new ApiError(415, 'unsupported_media_type', message);

const RejectionSchema = Type.Object({ line: Type.Integer(), field: Type.String(), message: Type.String() });

export function licenseImportRoutes(db: Database, sealing: SealingThread, counters: Counters, requireRole: RequireRole): FastifyPluginAsyncTypebox {
  return async (app) => {
    // This plugin's routes take text/csv only. The parser does not read the body: it passes
    // the stream on. Fastify applies bodyLimit only where it reads a body itself (parsers
    // declared with parseAs), so a file of any size comes through, unbuffered.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('text/csv', (request, payload, done) => {
      const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(request.headers['content-type'] ?? '')?.[1];
      if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
        done(unsupported(`the file must be UTF-8 text (charset=utf-8), not charset=${charset}; save it as "CSV UTF-8"`), undefined);
        return;
      }
      done(null, new CsvUpload(payload));
    });
    app.addContentTypeParser('*', (request, _payload, done) => {
      done(unsupported(`send the file as text/csv (UTF-8), not ${request.headers['content-type'] ?? 'without a content type'}`), undefined);
    });

    app.post(
      '/v1/licenses/import',
      {
        onRequest: requireRole('admin'),
        // The body is a stream: nothing for ajv to check. The body schema only documents it.
        validatorCompiler: () => () => true,
        schema: {
          tags: ['licenses'],
          description:
            'Imports licences from a CSV file (text/csv, UTF-8 with or without BOM), streamed, of any size. ' +
            `The header row names the columns: ${LICENSE_FIELDS.join(', ')} (phone, platformUserId and status may be left out; ` +
            'an empty cell is an absent value). Rows are checked like those of POST /v1/licenses/batch and upserted on ' +
            '(categoryCode, licenseNo) in file order, so a key repeated later in the file wins. Valid rows are kept; a ' +
            'rejected row changes nothing and is listed with its line (the header is line 1) and reason; at most ' +
            `${MAX_LISTED_REJECTIONS} problems are listed, rejectedCount is the number of rejected rows. A header with an ` +
            'unknown, repeated or missing column is a 422 before any row is read. A broken CSV structure (e.g. a quote ' +
            'never closed) stops the import with a 422 naming the line, with the counts of the rows before it, which are kept.',
          consumes: ['text/csv'],
          body: Type.Unsafe<CsvUpload>({ type: 'string', format: 'binary', description: 'the CSV file' }),
          response: {
            200: Type.Object({
              created: Type.Integer(),
              updated: Type.Integer(),
              renewed: Type.Integer(),
              unchanged: Type.Integer(),
              rejectedCount: Type.Integer({ description: 'rejected rows in all' }),
              rejected: Type.Array(RejectionSchema, { description: `at most ${MAX_LISTED_REJECTIONS}, in file order; a row with several problems has several entries` }),
            }),
          },
        },
      },
      async (request) => {
        if (!(request.body instanceof CsvUpload)) throw unsupported('send the file as text/csv (UTF-8)');
        const started = performance.now();
        const outcome = await importLicenses({ db, sealing, counters }, request.body.stream, auditActor(request)).catch((error: unknown) => {
          if (error instanceof LicenseCsvHeaderError) throw new ApiError(422, 'invalid_csv_header', error.message, error.details);
          throw error;
        });
        const { broken, cutOffAfterLine, rows, ...result } = outcome;
        const { rejected: _listed, ...counts } = result;
        request.log.info({ rows, ms: Math.round(performance.now() - started), ...counts, broken, cutOffAfterLine }, 'licence import finished');
        if (cutOffAfterLine !== undefined) {
          // Nobody is left to read this; it is for the log.
          throw new ApiError(
            400,
            'upload_incomplete',
            `the upload broke off after line ${cutOffAfterLine}; the rows up to that line were imported (${counts.created} created, ` +
              `${counts.updated} updated, ${counts.renewed} renewed, ${counts.unchanged} unchanged, ${counts.rejectedCount} rejected)`,
          );
        }
        if (broken) {
          const { line, reason } = broken;
          throw new ApiError(
            422,
            'invalid_csv',
            `line ${line}: ${reason}. The rows before line ${line} were imported (${counts.created} created, ` +
              `${counts.updated} updated, ${counts.renewed} renewed, ${counts.unchanged} unchanged, ${counts.rejectedCount} rejected); ` +
              `nothing from line ${line} on was read. Correct the file and send it again: rows already imported count as unchanged.`,
            { line, ...result },
          );
        }
        return result;
      },
    );
  };
}
