import type { Response } from 'express';

type Cell = string | number | boolean | Date | null | undefined;

/**
 * One CSV cell (RFC 4180 quoting). Text that a spreadsheet would read as a formula
 * (starting with =, +, -, @, tab or CR) gets a leading apostrophe, so a name like
 * "=HYPERLINK(…)" is shown, not run.
 */
export function csvCell(value: Cell): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value !== 'string') return String(value);
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export const csvRow = (cells: Cell[]) => `${cells.map(csvCell).join(',')}\r\n`;

/**
 * Streams a CSV in keyset-paged chunks: memory stays flat for a million rows, the
 * database connection is free between chunks, and a slow client pauses the export
 * (backpressure) instead of buffering it.
 */
export async function streamCsv<T extends { id: number }>(
  res: Response,
  filename: string,
  header: string[],
  fetchAfter: (afterId: number, limit: number) => Promise<T[]>,
  toCells: (row: T) => Cell[],
  chunkSize = 1000,
): Promise<void> {
  res.status(200);
  res.setHeader('Content-Type', 'text/csv; charset=utf-8');
  res.setHeader('Content-Disposition', `attachment; filename="${filename}"`);
  res.write(csvRow(header));
  let after = 0;
  for (;;) {
    const rows = await fetchAfter(after, chunkSize);
    // The client may have left while the chunk was read: a write now would wait for a
    // 'drain' that never comes.
    if (res.destroyed) return;
    if (rows.length === 0) break;
    let chunk = '';
    for (const row of rows) chunk += csvRow(toCells(row));
    after = rows[rows.length - 1]!.id;
    if (!res.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
    if (res.destroyed) return;
    if (rows.length < chunkSize) break;
  }
  res.end();
}
