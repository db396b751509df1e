// The decision time as Date#toISOString writes it, without its cost on every decision (it was a
// third of a decision's time): the date part of the last UTC day seen is kept, and only the time of
// day is formatted. Anything unusual (another day, an invalid date, a year outside 0–9999, which
// toISOString writes with six digits and a sign) goes through toISOString itself.
const DAY_MS = 86_400_000;

const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => (i < 10 ? `0${i}` : `${i}`));

let cachedDay = { from: 0, until: 0, prefix: '' };

/** Exactly `at.toISOString()`, including its RangeError on an invalid date. */
export function isoTime(at: Date): string {
  const time = at.getTime();
  if (!(time >= cachedDay.from && time < cachedDay.until)) {
    const iso = at.toISOString();
    const year = at.getUTCFullYear();
    if (year >= 0 && year <= 9999) {
      const from = Math.floor(time / DAY_MS) * DAY_MS;
      cachedDay = { from, until: from + DAY_MS, prefix: iso.slice(0, 11) };
    }
    return iso;
  }
  const ofDay = time - cachedDay.from;
  const seconds = Math.floor(ofDay / 1000);
  const millis = ofDay - seconds * 1000;
  return `${cachedDay.prefix}${TWO_DIGITS[Math.floor(seconds / 3600)]}:${TWO_DIGITS[Math.floor(seconds / 60) % 60]}:${TWO_DIGITS[seconds % 60]}.${
    millis < 10 ? '00' : millis < 100 ? '0' : ''
  }${millis}Z`;
}
