// RFC 8785 canonical JSON: the one serializer every hash in the gateway is taken over (audit
// entries, manifests, policy revisions). The `canonicalize` package is the reference, and a property
// test holds the two equal; this one differs only where the package would crash or throw a bare
// Error: values it cannot carry are refused with a GatewayError naming the caller's code, and depth
// is bounded so no input can exhaust the stack. Lone surrogates are refused (RFC 8785 §3.2.2.2 and
// I-JSON RFC 7493 §2.1 admit only well-formed Unicode, so such a string has no canonical form);
// they are looked for only when JSON.stringify escaped something as \udxxx, so well-formed strings
// cost no second scan on the append path.
import { GatewayError, type ErrorCode } from '../errors.js';
import { JSON_MAX_DEPTH } from '../input/json-bounds.js';

export interface CanonicalJsonOptions {
  /** The code of the refusal: that of the thing being hashed (default `ERR_REQUEST_INVALID`). */
  readonly code?: ErrorCode;
  /** Deepest nesting of arrays and objects (default {@link JSON_MAX_DEPTH}). */
  readonly maxDepth?: number;
}

/** A lone surrogate outside a pair (with `u`, a pair is one code point and never matches). */
const LONE_SURROGATE = /\p{Cs}/u;

/** JSON.stringify of a string, refusing lone surrogates (which it would escape as \udxxx). */
function quote(text: string, refuse: (message: string) => never): string {
  const json = JSON.stringify(text);
  if (json.includes('\\ud') && LONE_SURROGATE.test(text)) refuse('a string holds a lone surrogate: only well-formed Unicode has a canonical form');
  return json;
}

/** `depth` is the number of arrays and objects around `value`; `converted`: toJSON already applied. */
function serialize(value: unknown, depth: number, maxDepth: number, refuse: (message: string) => never, converted = false): string | undefined {
  switch (typeof value) {
    case 'string':
      return quote(value, refuse);
    case 'number':
      if (!Number.isFinite(value)) refuse(`${value} is not allowed`);
      return JSON.stringify(value); // ECMAScript Number-to-String, as RFC 8785 §3.2.2.3 prescribes; -0 → "0"
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'bigint':
      return refuse('BigInt is not allowed');
    default:
      break;
  }
  if (value === null) return 'null';
  const object = value as { toJSON?: () => unknown } & Record<string, unknown>;
  // Applied once per value, as JSON.stringify does: a toJSON that returns itself cannot loop.
  if (!converted && typeof object.toJSON === 'function') return serialize(object.toJSON(), depth, maxDepth, refuse, true);
  // Checked before descending: a cycle or a deep value is refused here, never by a stack overflow.
  if (depth >= maxDepth) refuse(`nested deeper than ${maxDepth} levels`);
  if (Array.isArray(object)) return `[${object.map((item) => serialize(item, depth + 1, maxDepth, refuse) ?? 'null').join(',')}]`;
  let out = '';
  // Default sort compares UTF-16 code units, which is the order RFC 8785 §3.2.3 requires.
  for (const key of Object.keys(object).sort()) {
    const member = serialize(object[key], depth + 1, maxDepth, refuse);
    if (member === undefined) continue;
    out += `${out === '' ? '' : ','}${quote(key, refuse)}:${member}`;
  }
  return `{${out}}`;
}

/**
 * The RFC 8785 canonical JSON text of `value`, or undefined for a top-level undefined/function/symbol.
 * @throws GatewayError with `options.code` (default `ERR_REQUEST_INVALID`) for NaN, ±Infinity,
 *   BigInt, a lone surrogate in a string or member name, or nesting deeper than `options.maxDepth`.
 */
export function toCanonicalJson(value: unknown, options: CanonicalJsonOptions = {}): string | undefined {
  const code = options.code ?? 'ERR_REQUEST_INVALID';
  const refuse = (message: string): never => {
    throw new GatewayError(code, `the value has no canonical JSON form (RFC 8785): ${message}`);
  };
  return serialize(value, 0, options.maxDepth ?? JSON_MAX_DEPTH, refuse);
}
