import type { FastifyReply, FastifyRequest } from 'fastify';
import { PassThrough, type Writable } from 'node:stream';

/** Excel opens a CSV as UTF-8 only when it starts with a byte-order mark. */
const BOM = '\uFEFF';

export interface CsvDownload {
  /** the file's name as the browser saves it; may be Chinese */
  filename: string;
  /** the name for clients that read only ASCII names, when `filename` is not ASCII (else one is made) */
  asciiFilename?: string;
  header: string[];
  /**
   * Writes the CSV rows, each ending in a newline, into `to` (copyCsv does): true once all
   * are written, false when `to` closed first (the client went away); rejects on a failure.
   */
  writeRows(to: Writable): Promise<boolean>;
}

/** One CSV line of plain cells, quoted where a cell holds a comma, a quote or a line break; ended by \\n as COPY ends its rows. */
export function csvLine(cells: string[]): string {
  return `${cells.map((cell) => (/[",\r\n]/.test(cell) ? `"${cell.replaceAll('"', '""')}"` : cell)).join(',')}\n`;
}

/** `attachment` with the name as RFC 6266 gives it: an ASCII `filename` and, for another name, the UTF-8 `filename*`. */
export function attachment(filename: string, asciiFilename?: string): string {
  const ascii = (asciiFilename ?? filename).replace(/[^\x20-\x7e]+/g, '_').replace(/["\\]/g, '_');
  const encoded = encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return ascii === filename ? `attachment; filename="${filename}"` : `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/**
 * Answers with a CSV download, streamed as its rows come: `text/csv; charset=utf-8`, a BOM,
 * the header, then the rows. A failure midway is logged and the response is cut off (the
 * connection closed before the chunked body's end), so no client takes a partial file for a
 * whole one; a client that goes away stops the rows (writeRows sees its stream close).
 */
export function sendCsv(request: FastifyRequest, reply: FastifyReply, download: CsvDownload): FastifyReply {
  const body = new PassThrough();
  body.write(BOM + csvLine(download.header));
  download.writeRows(body).then(
    (complete) => {
      if (complete) body.end();
    },
    (error: unknown) => {
      request.log.error({ err: error }, 'CSV download failed midway; the response is cut off');
      body.destroy(error instanceof Error ? error : new Error(String(error)));
    },
  );
  return reply.type('text/csv; charset=utf-8').header('content-disposition', attachment(download.filename, download.asciiFilename)).send(body);
}
