// Which decisions need what a sender→recipient pair carried before, and over what span: the US Data
// Security Program counts "bulk" US-person data over the preceding 12 months, aggregated across the
// pair's transactions (28 CFR 202.205). Only a manifest that counts US persons needs the sum.

/** The recipient of a manifest that declares US persons (`us.personCounts`), read before it is validated; undefined otherwise. */
export function recipientCountingUsPersons(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { recipient, us } = body as { recipient?: unknown; us?: unknown };
  if (typeof recipient !== 'string' || typeof us !== 'object' || us === null || (us as { personCounts?: unknown }).personCounts === undefined) return undefined;
  return recipient;
}

/** The same instant a calendar year earlier (UTC): where the "preceding 12 months" begin. */
export function twelveMonthsBefore(at: Date): Date {
  const start = new Date(at.getTime());
  start.setUTCFullYear(start.getUTCFullYear() - 1);
  return start;
}
