// Validity checks for identity numbers found by the scan, over bytes in place (no strings are made, so
// no copy of a value outlives the check): mainland resident identity numbers (GB 11643, ISO 7064
// MOD 11-2 check character) and Hong Kong identity card numbers (mod 11 check digit).

const ZERO = 0x30;
const UPPER_X = 0x58;
const LOWER_X = 0x78;
const MAINLAND_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const;
/** Remainder → check character; 'X' (0x58) stands for ten. */
const MAINLAND_CHECK = Array.from('10X98765432', (c) => c.charCodeAt(0));
/**
 * First two digits (province-level division, GB/T 2260) of numbers actually issued: 11–15, 21–23,
 * 31–37, 41–46, 50–54, 61–65, 71 (Taiwan), and 81–83 for the residence permits of Hong Kong, Macao and
 * Taiwan residents. Checking them halves the chance that an arbitrary 18-digit number passes.
 */
const PROVINCES: ReadonlySet<number> = new Set([
  11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83,
]);
const EARLIEST_BIRTH_DATE = 19000101;

export type MainlandIdCheck = 'valid' | 'wrong-check-character' | 'not-an-id';

/**
 * Checks the 18 characters at `at` (17 digits and a check character; the caller has seen their
 * shape). `not-an-id` when the region code or the birth date (positions 7–14, not after
 * `latestBirthDate` as YYYYMMDD) is implausible: those are not look-alikes, just numbers.
 */
export function checkMainlandId(bytes: Uint8Array, at: number, latestBirthDate: number): MainlandIdCheck {
  if (!PROVINCES.has(digitsAt(bytes, at, 2))) return 'not-an-id';
  const year = digitsAt(bytes, at + 6, 4);
  const month = digitsAt(bytes, at + 10, 2);
  const day = digitsAt(bytes, at + 12, 2);
  const date = year * 10000 + month * 100 + day;
  if (date < EARLIEST_BIRTH_DATE || date > latestBirthDate || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    return 'not-an-id';
  }
  let sum = 0;
  for (let i = 0; i < 17; i += 1) sum += ((bytes[at + i] ?? 0) - ZERO) * (MAINLAND_WEIGHTS[i] ?? 0);
  const last = bytes[at + 17] ?? 0;
  const actual = last === LOWER_X ? UPPER_X : last;
  return actual === MAINLAND_CHECK[sum % 11] ? 'valid' : 'wrong-check-character';
}

/**
 * Whether an HKID's check character is right: `letters` (1 or 2) upper-case letters at `at`, then six
 * digits at `digitsAt`, then `check` (a digit or 'A'). A single letter counts as a space (36) in the
 * first position; letters are A=10…Z=35; weights 9, 8, then 7…2; check = 11 − (sum mod 11), 10 → A.
 */
export function isValidHkid(bytes: Uint8Array, at: number, letters: 1 | 2, sixDigitsAt: number, check: number): boolean {
  const first = letterValue(bytes[at] ?? 0);
  let sum = letters === 2 ? first * 9 + letterValue(bytes[at + 1] ?? 0) * 8 : 36 * 9 + first * 8;
  for (let i = 0; i < 6; i += 1) sum += ((bytes[sixDigitsAt + i] ?? 0) - ZERO) * (7 - i);
  const value = (11 - (sum % 11)) % 11;
  return check === (value === 10 ? 0x41 : ZERO + value);
}

/** Today (or any date) as the number YYYYMMDD, in UTC. */
export function toDateNumber(date: Date): number {
  return date.getUTCFullYear() * 10000 + (date.getUTCMonth() + 1) * 100 + date.getUTCDate();
}

function letterValue(byte: number): number {
  return byte - 0x41 + 10;
}

function digitsAt(bytes: Uint8Array, at: number, count: number): number {
  let value = 0;
  for (let i = 0; i < count; i += 1) value = value * 10 + ((bytes[at + i] ?? 0) - ZERO);
  return value;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}
