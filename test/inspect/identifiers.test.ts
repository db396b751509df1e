// What the identifier scan counts and what it must not: identity numbers with their check characters
// (computed here independently), phone numbers in their written forms, e-mail addresses, and the
// numbers of ordinary VCF, FASTQ, SAM and numeric CSV data that only look like them.
import { describe, expect, it } from 'vitest';
import { bgzip, counts, fastqText, hkidCheck, inspect, mainlandId, vcfText, withWrongCheck } from './support.js';

/** One value as a cell of a small CSV, so it sits between delimiters as in real data. */
function inCsv(value: string): string {
  return `id,value,note\n1,${value},seen\n2,none,seen\n`;
}

const VALID_IDS = [
  mainlandId('440305', '19900307', '123'),
  mainlandId('110105', '19491231', '002'),
  mainlandId('810000', '20010228', '456'),
  mainlandId('510104', '20000229', '771'), // a leap day
];
const ID_ENDING_IN_X = ['440305', '330106', '120101', '370202', '650102', '420106', '230103', '510104', '320102', '610113']
  .flatMap((region) => ['001', '002', '003', '004', '005', '006', '007', '008', '009', '010', '011'].map((seq) => mainlandId(region, '19851116', seq)))
  .find((id) => id.endsWith('X')) as string;

describe('mainland resident identity numbers', () => {
  it('counts numbers with a valid check character and birth date', () => {
    for (const id of VALID_IDS) expect(counts(inspect(inCsv(id))), id).toEqual({ 'mainland-id': 1 });
  });

  it('accepts the check character X in either case', () => {
    expect(ID_ENDING_IN_X).toMatch(/X$/);
    expect(counts(inspect(inCsv(ID_ENDING_IN_X)))).toEqual({ 'mainland-id': 1 });
    expect(counts(inspect(inCsv(ID_ENDING_IN_X.toLowerCase())))).toEqual({ 'mainland-id': 1 });
  });

  it('counts a wrong check character separately, as information', () => {
    for (const id of VALID_IDS) {
      const report = inspect(inCsv(withWrongCheck(id)));
      expect(counts(report), id).toEqual({ 'mainland-id-lookalike': 1 });
      expect(report.findings[0]?.severity).toBe('info');
    }
  });

  it('ignores 18-digit numbers whose birth date or region cannot be', () => {
    const impossible = [
      mainlandId('440305', '19901301', '123'), // month 13
      mainlandId('440305', '19900230', '123'), // 30 February
      mainlandId('440305', '18991231', '123'), // before 1900
      mainlandId('440305', '20990101', '123'), // after today
      mainlandId('990305', '19900307', '123'), // no province 99
      mainlandId('440305', '19000229', '123'), // 1900 was not a leap year
    ];
    for (const id of impossible) expect(counts(inspect(inCsv(id))), id).toEqual({});
  });

  it('does not match inside longer numbers, words or decimals', () => {
    const id = VALID_IDS[0] as string;
    for (const value of [`9${id}`, `${id}7`, `ID${id}`, `${id}abc`, `0.${id}`, `${id}.5`, `${id}X`]) {
      expect(counts(inspect(inCsv(value))), value).toEqual({});
    }
  });

  it('matches next to punctuation and quotes', () => {
    const id = VALID_IDS[0] as string;
    for (const value of [`"${id}"`, `(${id})`, `id:${id};`, `<td>${id}</td>`, `id_${id}`]) {
      expect(counts(inspect(inCsv(value))), value).toEqual({ 'mainland-id': 1 });
    }
  });

  // The byte-at-a-time matcher took a hyphen for a digit and missed these.
  it('matches right after a hyphen that follows a label', () => {
    const id = VALID_IDS[0] as string;
    expect(counts(inspect(inCsv(`ID-${id}`)))).toEqual({ 'mainland-id': 1 });
    expect(counts(inspect(inCsv('tel-13812345678')))).toEqual({ 'phone-mainland': 1 });
    expect(counts(inspect(inCsv('tel-86 138 1234 5678')))).toEqual({ 'phone-mainland': 1 });
    expect(counts(inspect(inCsv('tel-2345 6789')))).toEqual({ 'phone-hk': 1 });
  });
});

describe('Hong Kong identity card numbers', () => {
  const twoLetter = `XA987654${hkidCheck('XA', '987654')}`;

  it('checks the known example A123456(3) and a computed two-letter number', () => {
    expect(hkidCheck('A', '123456')).toBe('3');
    for (const value of ['A123456(3)', 'A1234563', `XA987654(${hkidCheck('XA', '987654')})`, twoLetter]) {
      expect(counts(inspect(inCsv(value))), value).toEqual({ hkid: 1 });
    }
  });

  it('accepts the check character A', () => {
    const digits = ['000000', '111111', '222223', '123450', '765432', '234561', '345612', '456123', '561234', '612345', '700001', '800002']
      .find((d) => hkidCheck('C', d) === 'A') as string;
    expect(digits).toBeDefined();
    expect(counts(inspect(inCsv(`C${digits}(A)`)))).toEqual({ hkid: 1 });
  });

  it('ignores wrong check digits and other shapes', () => {
    for (const value of ['A123456(4)', 'A1234564', 'a123456(3)', 'ABC123456(3)', 'A12345(3)', 'A1234567(3)', 'A123456(3)B', 'xA123456(3)']) {
      expect(counts(inspect(inCsv(value))), value).toEqual({});
    }
  });
});

describe('phone numbers', () => {
  it('counts mainland mobiles with and without +86, grouped or not', () => {
    for (const value of ['13812345678', '+8613812345678', '8613812345678', '+86 13812345678', '+86 138 1234 5678', '138 1234 5678', '138-1234-5678', '86-138-1234-5678', '19912345678']) {
      expect(counts(inspect(inCsv(value))), value).toEqual({ 'phone-mainland': 1 });
    }
  });

  it('counts Hong Kong numbers with +852 or 852, or written in two halves', () => {
    for (const value of ['+852 2345 6789', '+85223456789', '85291234567', '852 5123 4567', '+852-6123-4567', '+852 61234567', 'Tel. 3123 4567']) {
      expect(counts(inspect(inCsv(value))), value).toEqual({ 'phone-hk': 1 });
    }
  });

  it('does not count numbers that only look like phones', () => {
    for (const value of [
      '12812345678', // no mobile prefix 12
      '1381234567', // ten digits
      '138123456789', // twelve
      '23456789', // eight digits without a prefix
      '2345-6789', // halves joined by a hyphen (ranges, dates)
      '1234 5678', // Hong Kong numbers do not start with 1
      '4234 5678',
      '2345 6789 1234', // three groups
      '+852 1234 5678',
      '3.1381234567891', // a decimal
      'rs13812345678', // an rsID
      '13812345678x',
      '2024-01-31',
    ]) {
      expect(counts(inspect(inCsv(value))), value).toEqual({});
    }
  });
});

describe('e-mail addresses', () => {
  it('counts addresses', () => {
    for (const value of ['alice@example.com', 'li.wei+study@hku.hk', 'x_y-z@sub.domain.org.cn', 'RESEARCH@EXAMPLE.ORG', '"Wong, A" <a.wong@cuhk.edu.hk>', 'mail to chan@163.com.']) {
      expect(counts(inspect(inCsv(value))), value).toEqual({ email: 1 });
    }
  });

  it('does not count things with an @ that are not addresses', () => {
    for (const value of ['@example.com', 'user@localhost', 'user@example.c', 'user@example.123', 'a@b', '...@x.com', 'user@-x.com', '@@', `${'a'.repeat(65)}@example.com`]) {
      expect(counts(inspect(inCsv(value))), value).toEqual({});
    }
  });
});

describe('ordinary genomic and numeric data', () => {
  it('finds nothing in a VCF, plain or bgzipped', () => {
    const text = vcfText(40, 2000);
    expect(inspect(text).findings).toEqual([]);
    expect(inspect(bgzip(text)).findings).toEqual([]);
  });

  it('finds nothing in FASTQ sequence and quality lines, even where the quality spells an address or a number', () => {
    const sequence = 'ACGT'.repeat(25);
    const spelled = 'JJ@FFF.AB#13812345678#A123456(3)#';
    const quality = spelled + 'F'.repeat(100 - spelled.length);
    const text = `${fastqText(500)}@read-x\n${sequence}\n+\n${quality}\n${fastqText(10)}`;
    const report = inspect(text);
    expect(report.detectedFormat).toBe('fastq');
    expect(report.findings).toEqual([]);
  });

  it('scans FASTQ header lines', () => {
    const report = inspect(fastqText(50, (i) => `@read${i} submitted by lab.contact@example.org`));
    expect(counts(report)).toEqual({ email: 50 });
  });

  it('skips SAM sequence, quality and tags but scans the header', () => {
    const sam = [
      '@HD\tVN:1.6',
      '@CO\tcontact lab.contact@example.org',
      'r1\t0\tchr1\t100\t60\t10M\t*\t0\t0\tACGTACGTAC\tJ@FF.AB#JJ\tXX:Z:13812345678',
      'r2\t0\tchr1\t200\t60\t10M\t*\t0\t0\tACGTACGTAC\tJJJJJJJJJJ',
      '',
    ].join('\n');
    expect(counts(inspect(sam, 3))).toEqual({ email: 1 });
  });

  it('finds nothing in numeric CSV: integers, decimals, dates, long sums, negative numbers', () => {
    const rows = Array.from({ length: 3000 }, (_, i) =>
      [i, `${1940 + (i % 80)}-0${1 + (i % 9)}-1${i % 10}`, (i * 0.731).toFixed(3), i * 104729, -i * 7, `${(i * 982451653) % 1e9}.${i % 97}`, `12345678901234567890${i}`].join(','),
    );
    expect(inspect(`n,date,x,y,z,w,big\n${rows.join('\n')}\n`).findings).toEqual([]);
  });

  it('counts each occurrence and keeps the first five offsets', () => {
    const id = VALID_IDS[0] as string;
    const line = `row,${id},x\n`;
    const report = inspect(line.repeat(12));
    const finding = report.findings.find((f) => f.kind === 'mainland-id');
    expect(finding?.count).toBe(12);
    expect(finding?.firstOffsets).toEqual([0, 1, 2, 3, 4].map((i) => i * line.length + 4));
  });
});
