import { describe, expect, it } from 'vitest';
import { eventsFromCsv, UnreadableRow } from '../../services/ingest/csv-body.js';
import { ValidationError } from '../../services/runtime/errors.js';

const header = 'eventId,moduleId,metric,value,observedAt';

function refusal(text: string): ValidationError {
  try {
    eventsFromCsv(text);
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('CSV uploads (RFC 4180) to events', () => {
  it('turns rows into events with numbers where the columns take numbers, and names each row by its line', () => {
    const text = `\uFEFF${header},dim.region\r\ne1,bus-punctuality,on_time_rate,91.5,1740830400000,north\r\n\r\ne2,bus-punctuality,on_time_rate,-3e2,2025-03-01T12:00:00Z,\r\n`;
    const { events, lines } = eventsFromCsv(text);
    expect(events).toEqual([
      {
        eventId: 'e1',
        moduleId: 'bus-punctuality',
        metric: 'on_time_rate',
        value: 91.5,
        observedAt: 1740830400000,
        dimensions: { region: 'north' },
      },
      {
        eventId: 'e2',
        moduleId: 'bus-punctuality',
        metric: 'on_time_rate',
        value: -300,
        observedAt: '2025-03-01T12:00:00Z',
      },
    ]);
    expect(lines).toEqual([2, 4]);
  });

  it('keeps quoted fields (commas, doubled quotes, line breaks) and formula-looking cells as text', () => {
    const text =
      `metric,moduleId,eventId,observedAt,value,dim.note\n` +
      `on_time_rate,m,a,1,"1","=HYPERLINK(""x"",""y"")"\n` +
      `on_time_rate,m,b,1,2,"two\nlines, one cell"\n` +
      `on_time_rate,m,c,1,=1+1,@SUM(A1)\n`;
    const { events, lines } = eventsFromCsv(text);
    expect(events.map((e) => (e as { dimensions?: unknown }).dimensions)).toEqual([
      { note: '=HYPERLINK("x","y")' },
      { note: 'two\nlines, one cell' },
      { note: '@SUM(A1)' },
    ]);
    // A value that is not a number stays the text it was; validation refuses it per row.
    expect((events[2] as { value: unknown }).value).toBe('=1+1');
    expect(lines).toEqual([2, 3, 5]);
  });

  it('counts lines in CRLF files with line breaks inside quotes', () => {
    const text = `${header},dim.note\r\na,m,x,1,1,"one\r\ntwo"\r\n\r\nb,m,x,1,1,plain\r\nc,m,x,1,1\r\n`;
    const { events, lines } = eventsFromCsv(text);
    expect((events[0] as { dimensions: unknown }).dimensions).toEqual({ note: 'one\r\ntwo' });
    expect(lines).toEqual([2, 5, 6]);
    expect((events[2] as UnreadableRow).errors[0]?.message).toBe('line 6 has 5 fields, the header has 6');
  });

  it('refuses a row with the wrong number of fields on its own, naming its line', () => {
    const { events, lines } = eventsFromCsv(`${header}\ne1,m,x,1,1\ne2,m,x,1\n`);
    expect(events[0]).not.toBeInstanceOf(UnreadableRow);
    expect(events[1]).toBeInstanceOf(UnreadableRow);
    expect((events[1] as UnreadableRow).errors[0]?.message).toBe('line 3 has 4 fields, the header has 5');
    expect(lines).toEqual([2, 3]);
  });

  it('answers 400 for a header that lacks, repeats or invents columns, and for text that is not CSV', () => {
    expect(refusal('eventId,moduleId,metric,value\ne,m,x,1\n').message).toMatch(/lacks observedAt/);
    expect(refusal(`${header},value\n`).message).toMatch(/names column "value" twice/);
    expect(refusal(`${header},agency\n`).message).toMatch(/unknown column "agency"/);
    expect(refusal(`${header}\n`).message).toBe('the body holds no events');
    const broken = refusal(`${header}\ne1,m,x,1,1\ne2,"m,x,1,1\n`);
    expect(broken.code).toBe('malformed_body');
    expect(broken.message).toMatch(/not valid CSV/);
    expect(refusal(`${header}\ne1,m"x,x,1,1\n`).details).toEqual({ line: 2 });
  });

  it('allows at most 1000 rows', () => {
    const row = (i: number) => `e${i},m,x,1,1\n`;
    const ok = header + '\n' + Array.from({ length: 1000 }, (_, i) => row(i)).join('');
    expect(eventsFromCsv(ok).events).toHaveLength(1000);
    const over = refusal(`${ok}${row(1000)}`);
    expect(over.code).toBe('too_many_events');
    expect(over.details).toEqual({ line: 1002 });
  });
});
