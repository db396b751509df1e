// Bounds on JSON that comes from outside (request bodies, manifest and JWKS files, parsed policy and
// registry YAML): at most JSON_MAX_DEPTH levels of nesting and well-formed Unicode only. Everything
// downstream (structuredClone, ajv, RFC 8785 canonicalisation) recurses, so depth is bounded first,
// by a single non-recursive pass over the text, before JSON.parse builds anything. Lone surrogates
// are refused rather than hashed: RFC 8785 §3.2.2.2 and I-JSON (RFC 7493 §2.1) admit only
// well-formed Unicode, so a manifest holding one has no canonical form and no stable hash.
import { isUtf8 } from 'node:buffer';
import { GatewayError } from '../errors.js';

/** Deepest nesting of arrays and objects accepted anywhere (`[]` is 1 level, `[[]]` 2). */
export const JSON_MAX_DEPTH = 64;

/** A value JSON text may not carry, located by a JSON Pointer (`/` for the whole value). */
export interface JsonValueProblem {
  readonly path: string;
  readonly message: string;
}

/** With the `u` flag a surrogate pair is one code point (not Cs): only lone surrogates match. */
const LONE_SURROGATE = /\p{Cs}/u;

const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Whether JSON text nests arrays/objects deeper than `maxDepth`: one pass over the bytes, skipping
 * strings, without building anything. Malformed text is not judged here (JSON.parse does that); the
 * scan only guarantees that whatever JSON.parse then accepts is at most `maxDepth` deep.
 */
export function exceedsJsonDepth(text: Uint8Array, maxDepth: number = JSON_MAX_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const byte = text[i];
    if (inString) {
      if (byte === BACKSLASH) i += 1; // the escaped byte cannot end the string
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) inString = true;
    else if (byte === OPEN_BRACKET || byte === OPEN_BRACE) {
      depth += 1;
      if (depth > maxDepth) return true;
    } else if (byte === CLOSE_BRACKET || byte === CLOSE_BRACE) depth -= 1;
  }
  return false;
}

interface Frame {
  readonly value: unknown;
  readonly depth: number;
  readonly parent: Frame | undefined;
  readonly key: string | undefined;
}

/** JSON Pointer of a frame, built only when a problem is reported. */
function pointerOf(frame: Frame): string {
  const segments: string[] = [];
  for (let at: Frame | undefined = frame; at?.key !== undefined; at = at.parent) segments.push(at.key.replace(/~/g, '~0').replace(/\//g, '~1'));
  return segments.length === 0 ? '/' : `/${segments.reverse().join('/')}`;
}

function loneSurrogateIn(text: string): string | undefined {
  const match = LONE_SURROGATE.exec(text);
  return match ? `U+${match[0].charCodeAt(0).toString(16).toUpperCase()}` : undefined;
}

/**
 * U+0000 has no place in a manifest or a policy, and PostgreSQL (shared mode's records and journal)
 * cannot store it in text or jsonb: refused at the door, so both modes take the same documents.
 */
const NUL_PROBLEM = 'holds U+0000 (NUL), which no field accepts (PostgreSQL text cannot store it)';

/** What is wrong with a scalar, if anything. */
function scalarProblem(value: unknown): string | undefined {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return NUL_PROBLEM;
    const lone = loneSurrogateIn(value);
    return lone ? `holds a lone surrogate (${lone}): only well-formed Unicode can be hashed canonically (RFC 8785, RFC 7493)` : undefined;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return `${value} is not a JSON number`;
  return undefined;
}

const isContainer = (value: unknown): value is object => value !== null && typeof value === 'object';

/**
 * A value JSON text may not carry (the first one found): nesting deeper than `maxDepth` (also what
 * a cycle looks like), a string or member name with a lone surrogate, a number that is not finite,
 * a `__proto__` member or a `constructor.prototype` (the prototype-poisoning shapes Fastify's own
 * JSON parser refuses). Iterative, so it cannot exhaust the stack whatever it is given; only
 * containers take a frame, scalars are checked where they stand.
 */
export function findJsonValueProblem(value: unknown, maxDepth: number = JSON_MAX_DEPTH): JsonValueProblem | undefined {
  const root: Frame = { value, depth: 0, parent: undefined, key: undefined };
  const at = (frame: Frame, message: string): JsonValueProblem => ({ path: pointerOf(frame), message });
  const childAt = (parent: Frame, key: string, message: string): JsonValueProblem => at({ value: undefined, depth: parent.depth + 1, parent, key }, message);
  if (!isContainer(value)) {
    const message = scalarProblem(value);
    return message ? at(root, message) : undefined;
  }
  const stack: Frame[] = [root];
  while (stack.length > 0) {
    const frame = stack.pop() as Frame;
    // A container at depth d is nesting level d + 1.
    if (frame.depth >= maxDepth) return at(frame, `nests deeper than ${maxDepth} levels`);
    const containers: Frame[] = [];
    const visit = (key: string, member: unknown): JsonValueProblem | undefined => {
      if (isContainer(member)) {
        containers.push({ value: member, depth: frame.depth + 1, parent: frame, key });
        return undefined;
      }
      const message = scalarProblem(member);
      return message ? childAt(frame, key, message) : undefined;
    };
    if (Array.isArray(frame.value)) {
      const items = frame.value as unknown[];
      for (let i = 0; i < items.length; i += 1) {
        const problem = visit(String(i), items[i]);
        if (problem) return problem;
      }
    } else {
      const object = frame.value as Record<string, unknown>;
      for (const key of Object.keys(object)) {
        const lone = loneSurrogateIn(key);
        if (lone) return childAt(frame, key, `is a member name with a lone surrogate (${lone}): only well-formed Unicode can be hashed canonically (RFC 8785, RFC 7493)`);
        if (key.includes('\u0000')) return childAt(frame, key, `is a member name that ${NUL_PROBLEM}`);
        if (key === '__proto__') return childAt(frame, key, 'is a member named __proto__');
        const member = object[key];
        if (key === 'constructor' && isContainer(member) && Object.hasOwn(member, 'prototype')) return childAt(frame, key, 'has a prototype member');
        const problem = visit(key, member);
        if (problem) return problem;
      }
    }
    for (let i = containers.length - 1; i >= 0; i -= 1) stack.push(containers[i] as Frame);
  }
  return undefined;
}

/**
 * Parses JSON text from outside: UTF-8 only, depth bounded before parsing, then the value checked
 * by {@link findJsonValueProblem}. `what` names the input in messages ("the request body").
 * @throws GatewayError `ERR_REQUEST_JSON_TOO_DEEP` (with `maxDepth`) for nesting deeper than
 *   `maxDepth`; `ERR_REQUEST_INVALID` for text that is empty, not UTF-8 or not JSON, and for values
 *   JSON may not carry (with `problems`: JSON Pointer + message).
 */
export function parseJsonText(input: Uint8Array | string, what: string, maxDepth: number = JSON_MAX_DEPTH): unknown {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  if (typeof input !== 'string' && !isUtf8(bytes)) throw new GatewayError('ERR_REQUEST_INVALID', `${what} is not valid UTF-8`);
  if (exceedsJsonDepth(bytes, maxDepth)) throw new GatewayError('ERR_REQUEST_JSON_TOO_DEEP', `${what} nests arrays and objects deeper than ${maxDepth} levels`, { maxDepth });
  const text = typeof input === 'string' ? input : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (text.trim() === '') throw new GatewayError('ERR_REQUEST_INVALID', `${what} is empty`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new GatewayError('ERR_REQUEST_INVALID', `${what} is not JSON: ${(error as Error).message}`);
  }
  const problem = findJsonValueProblem(value, maxDepth);
  if (problem) throw new GatewayError('ERR_REQUEST_INVALID', `${what} holds a value JSON may not carry: ${problem.path} ${problem.message}`, { problems: [problem] });
  return value;
}
