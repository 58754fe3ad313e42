import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { csvField, csvRecord } from '../../services/api/csv.js';

describe('CSV quoting (RFC 4180)', () => {
  it('quotes only fields that need it and doubles inner quotes', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField(-3.5)).toBe('-3.5');
    expect(csvField(true)).toBe('true');
    expect(csvField(null)).toBe('');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\rhere')).toBe('"cr\rhere"');
    expect(csvField(' padded')).toBe('" padded"');
    expect(csvField('"')).toBe('""""');
    expect(csvRecord(['a', 1, 'b,c'])).toBe('a,1,"b,c"\r\n');
  });

  it('writes text a spreadsheet would run as a formula as text', () => {
    expect(csvField('=1+2')).toBe("'=1+2");
    expect(csvField('+1')).toBe("'+1");
    expect(csvField('-1')).toBe("'-1");
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField('\tx')).toBe("'\tx");
    expect(csvField('\rx')).toBe('"\'\rx"');
    expect(csvField('=HYPERLINK("x")')).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvField(-1)).toBe('-1');
    expect(csvField('a=b')).toBe('a=b');
  });

  it('writes any records so that an independent CSV reader reads them back', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.array(
            fc.string({ unit: fc.constantFrom('a', ',', '"', '\n', '\r', ' ', 'é', '1', '=', '-', '@') }),
            {
              minLength: 1,
              maxLength: 5,
            },
          ),
          {
            maxLength: 8,
          },
        ),
        (records) => {
          // A record of one empty field is indistinguishable from an empty line; CSV writers avoid it too.
          const usable = records.filter((r) => !(r.length === 1 && r[0] === ''));
          // Text that a spreadsheet would run as a formula is read back with the leading ' it was given.
          const asText = usable.map((r) => r.map((f) => (/^[=+\-@\t\r]/.test(f) ? `'${f}` : f)));
          // Records of different lengths: an export's are all as long as its header.
          expect(parse(usable.map(csvRecord).join(''), { relax_column_count: true })).toEqual(asText);
        },
      ),
    );
  });
});
