// Forms that change state, or act as an officer, are protected against cross-site requests: a browser
// sends the person's client certificate to this origin whatever page asks it to. A POST must come
// from this origin (`Origin`, or `Referer` when a browser sends no Origin) and carry the token of a
// page this gateway rendered for the same person within the hour: HMAC-SHA256 over who and when, with
// a key this process drew at start.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const TOKEN_LIFETIME_MS = 60 * 60 * 1000;

/** The origin a Referer names; undefined when absent or not a URL (then the form is refused, not a 500). */
const originOf = (referer: string | undefined): string | undefined => (referer && URL.canParse(referer) ? new URL(referer).origin : undefined);

export function createCrossSiteGuard(clock: () => Date = () => new Date()) {
  const key = randomBytes(32);
  const mac = (principal: string, issuedAt: number): string => createHmac('sha256', key).update(`${principal}\n${issuedAt}`).digest('base64url');
  return {
    /** A token for forms on a page rendered for `principal`. */
    tokenFor(principal: string): string {
      const issuedAt = clock().getTime();
      return `${issuedAt}.${mac(principal, issuedAt)}`;
    },
    /** Why a POST is refused, or undefined when it is this origin's, with a fresh token of this person. */
    refusal(request: { readonly principal: string; readonly origin: string | undefined; readonly referer: string | undefined; readonly host: string | undefined; readonly token: unknown }): string | undefined {
      const own = `https://${request.host ?? ''}`;
      const from = request.origin ?? originOf(request.referer);
      if (from !== own) return `the form was sent from ${from ?? 'an unknown origin'}, not from ${own}`;
      const [issued, given] = typeof request.token === 'string' ? request.token.split('.') : [];
      const issuedAt = Number(issued);
      if (!given || !Number.isSafeInteger(issuedAt) || clock().getTime() - issuedAt > TOKEN_LIFETIME_MS || issuedAt > clock().getTime()) return 'the form token is missing or expired: reload the page';
      const expected = Buffer.from(mac(request.principal, issuedAt));
      const presented = Buffer.from(given);
      if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) return 'the form token is not one this gateway gave this person';
      return undefined;
    },
  };
}

export type CrossSiteGuard = ReturnType<typeof createCrossSiteGuard>;
