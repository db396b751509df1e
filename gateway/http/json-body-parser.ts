// The API's one application/json body parser, in place of Fastify's default: the body is read as
// bytes (within the route's body limit) and must be UTF-8, nest no deeper than JSON_MAX_DEPTH
// (checked in one pass over the bytes, before JSON.parse and long before schema validation, ajv or
// canonicalisation recurse over it), and hold only values JSON may carry (no lone surrogates, no
// prototype-poisoning members). Every refusal is a 400 with a stable code, never a 500.
import type { FastifyInstance } from 'fastify';
import { JSON_MAX_DEPTH, parseJsonText } from '../input/json-bounds.js';

/**
 * Replaces the default JSON parser of `app` (call it on the root instance before any route).
 * Bodies are refused with `ERR_REQUEST_JSON_TOO_DEEP` (deeper than {@link JSON_MAX_DEPTH}) or
 * `ERR_REQUEST_INVALID` (empty, not UTF-8, not JSON, lone surrogates, `__proto__`).
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, parseJsonText(body as Buffer, 'the request body', JSON_MAX_DEPTH));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}
