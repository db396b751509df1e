// The start-up scan recognises the top-level members it reads (seq, time, type, actor, subject) by
// length and bytes, and slices plain strings without decoding: a name one byte off is just another
// member, never mistaken for one of them, so a line tampered that way is still refused (or read as
// what it is), and a string that is not plain ASCII is still decoded as UTF-8.
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { scanCanonicalEntry } from '../../gateway/audit/scan-canonical-entry.js';

const TIME = '2025-03-01T08:00:00.000Z';
const base = { seq: 7, time: TIME, type: 'transfer.created', actor: { kind: 'institution', id: 'sz-hospital' }, subject: 'tr-1' };

function scan(value: Record<string, unknown>): ReturnType<typeof scanCanonicalEntry> {
  const bytes = Buffer.from(canonicalize(value) as string, 'utf8');
  return scanCanonicalEntry(bytes, 0, bytes.length);
}

function without(name: keyof typeof base): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...base };
  delete copy[name];
  return copy;
}

describe('top-level members of an entry', () => {
  it('reads seq, time and subject from a clean entry', () => {
    expect(scan(base)).toEqual({ seq: 7, time: TIME, subject: 'tr-1' });
  });

  it.each([
    ['seq', 'sez', 'no seq'],
    ['seq', 'seqs', 'no seq'],
    ['seq', 'se', 'no seq'],
    ['time', 'tima', 'time is not an ISO 8601 UTC time with milliseconds'],
    ['time', 'timf', 'time is not an ISO 8601 UTC time with milliseconds'],
    ['type', 'typf', 'type (a string) or actor (an object) missing'],
    ['type', 'tipe', 'type (a string) or actor (an object) missing'],
    ['actor', 'actos', 'type (a string) or actor (an object) missing'],
    ['actor', 'actorx', 'type (a string) or actor (an object) missing'],
  ] as const)('refuses %s renamed to a look-alike of the same or near length (%s)', (name, lookAlike, reason) => {
    expect(scan({ ...without(name), [lookAlike]: base[name] })).toBe(reason);
  });

  it('reads a look-alike of subject as another member (no subject)', () => {
    expect(scan({ ...without('subject'), subjecs: 'tr-1' })).toEqual({ seq: 7, time: TIME, subject: undefined });
    expect(scan({ ...without('subject'), subjects: 'tr-1' })).toEqual({ seq: 7, time: TIME, subject: undefined });
  });

  it('reads members named like the ones it reads only at the top level', () => {
    expect(scan({ ...base, details: { seq: 'x', time: 5, subject: 1, type: 2, actor: 3 } })).toEqual({ seq: 7, time: TIME, subject: 'tr-1' });
  });

  it('refuses wrong types of the members it reads', () => {
    expect(scan({ ...base, seq: '7' })).toBe('seq is not a non-negative integer');
    expect(scan({ ...base, time: 5 })).toBe('time is not a string');
    expect(scan({ ...base, subject: 5 })).toBe('subject is not a string');
    expect(scan({ ...base, type: 5 })).toBe('type (a string) or actor (an object) missing');
    expect(scan({ ...base, actor: 'x' })).toBe('type (a string) or actor (an object) missing');
  });

  it('decodes strings that are not plain ASCII as UTF-8, and refuses an escaped time', () => {
    expect(scan({ ...base, subject: 'tr-é€😀' })).toEqual({ seq: 7, time: TIME, subject: 'tr-é€😀' });
    expect(scan({ ...base, subject: 'tr-"1"\n' })).toEqual({ seq: 7, time: TIME, subject: 'tr-"1"\n' });
    expect(scan({ ...base, time: `${TIME}\n` })).toBe('time is not an ISO 8601 UTC time with milliseconds');
    // Bytes 0x80–0xff are not latin1 characters here: a tampered subject byte stays invalid UTF-8.
    const bytes = Buffer.from(canonicalize(base) as string, 'utf8');
    bytes[bytes.indexOf('tr-1') + 3] = 0xe9;
    expect(scanCanonicalEntry(bytes, 0, bytes.length)).toBe('not valid UTF-8');
  });
});
