// RFC 8785 canonical JSON for the append path. The `canonicalize` package is the reference (used for
// checkpoints, manifests and by the export verifier); this is the same algorithm without its
// per-character surrogate scan, which made it the most expensive step of an append. Lone surrogates
// still cannot get through: JSON.stringify escapes them as \udxxx, which the canonical scan every
// encoded entry passes (scan-canonical-entry.ts) rejects. A property test holds the two equal.

/** Thrown for values JSON cannot carry canonically. */
class NotJson extends Error {}

function serialize(value: unknown, depth: number): string | undefined {
  if (depth > 32) throw new NotJson('nested too deeply');
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new NotJson(`${value} is not allowed`);
      return JSON.stringify(value); // ECMAScript Number-to-String, as RFC 8785 §3.2.2.3 prescribes; -0 → "0"
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'bigint':
      throw new NotJson('BigInt is not allowed');
    default:
      break;
  }
  if (value === null) return 'null';
  const object = value as { toJSON?: () => unknown } & Record<string, unknown>;
  if (typeof object.toJSON === 'function') return serialize(object.toJSON(), depth + 1);
  if (Array.isArray(object)) return `[${object.map((item) => serialize(item, depth + 1) ?? 'null').join(',')}]`;
  let out = '';
  // Default sort compares UTF-16 code units, which is the order RFC 8785 §3.2.3 requires.
  for (const key of Object.keys(object).sort()) {
    const member = serialize(object[key], depth + 1);
    if (member === undefined) continue;
    out += `${out === '' ? '' : ','}${JSON.stringify(key)}:${member}`;
  }
  return `{${out}}`;
}

/**
 * The canonical JSON text of `value`, or undefined for a top-level undefined/function/symbol.
 * @throws Error for NaN, ±Infinity, BigInt or nesting deeper than 32.
 */
export function toCanonicalJson(value: unknown): string | undefined {
  return serialize(value, 0);
}
