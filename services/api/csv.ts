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

/**
 * Splits CSV text back into records of fields (the inverse of `csvRecord`), for clients and tests.
 * Throws on an unterminated quoted field.
 */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
      i += 1;
      continue;
    }
    if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i += 1;
    } else field += c;
    i += 1;
  }
  if (quoted) throw new SyntaxError('unterminated quoted CSV field');
  if (field !== '' || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  return records;
}
