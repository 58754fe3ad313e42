/**
 * CSV as RFC 4180 writes it: fields separated by commas, records by CRLF; a field containing a
 * comma, a double quote, CR or LF (or starting or ending with a space) is enclosed in double quotes,
 * and each double quote inside it is doubled. A text field that a spreadsheet would run as a
 * formula (starting with `=`, `+`, `-`, `@`, tab or CR) gets a leading `'`, which spreadsheets show
 * as text; numbers are written as they are (`-3` stays a number).
 */
export function csvField(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'string' && /^[=+\-@\t\r]/.test(value) ? `'${value}` : String(value);
  return /[",\r\n]|^ | $/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One CSV record with its CRLF terminator. */
export function csvRecord(fields: ReadonlyArray<string | number | boolean | null | undefined>): string {
  return `${fields.map(csvField).join(',')}\r\n`;
}
