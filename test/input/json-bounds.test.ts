// The JSON bounds every outside input passes (json-bounds.ts, yaml-bounds.ts): the one-pass depth
// scan agrees with the real nesting of any JSON text, the value check finds lone surrogates, deep
// values and cycles without recursing, and parseJsonText turns every refusal into a GatewayError.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JSON_MAX_DEPTH, exceedsJsonDepth, findJsonValueProblem, parseJsonText } from '../../gateway/input/json-bounds.js';
import { findYamlDepthProblem } from '../../gateway/input/yaml-bounds.js';

/** Nesting of a parsed value, measured iteratively. */
function depthOf(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop() as [unknown, number];
    if (current === null || typeof current !== 'object') continue;
    max = Math.max(max, depth + 1);
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return max;
}

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');
/** Strings full of what could confuse a scanner: brackets, quotes and escapes. */
const trickyText = fc.string({ unit: fc.constantFrom('[', ']', '{', '}', '"', '\\', 'a', 'é', '😀', '\n'), maxLength: 10 });
const trickyJson = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 12 },
    trickyText,
    fc.integer(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(trickyText, tie('value'), { maxKeys: 3 }),
  ),
})).value;

describe('exceedsJsonDepth', () => {
  it('agrees with the real nesting of any JSON text, whatever its strings hold', () => {
    fc.assert(
      fc.property(trickyJson, fc.nat(14), fc.boolean(), (value, maxDepth, pretty) => {
        const text = JSON.stringify(value, null, pretty ? 2 : undefined);
        expect(exceedsJsonDepth(bytes(text), maxDepth)).toBe(depthOf(value) > maxDepth);
      }),
      { numRuns: 1000 },
    );
  });

  it('counts to the bound exactly and scans a million levels without recursing', () => {
    const nest = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;
    expect(exceedsJsonDepth(bytes(nest(JSON_MAX_DEPTH)))).toBe(false);
    expect(exceedsJsonDepth(bytes(nest(JSON_MAX_DEPTH + 1)))).toBe(true);
    expect(exceedsJsonDepth(bytes(nest(1_000_000)))).toBe(true);
    expect(exceedsJsonDepth(bytes(`["${'['.repeat(100)}\\"${'{'.repeat(100)}"]`))).toBe(false);
  });
});

describe('findJsonValueProblem', () => {
  it.each([
    [{ a: { b: ['ok', 'x\ud800'] } }, '/a/b/1', /lone surrogate \(U\+D800\)/],
    [{ a: 'pair 😀 ok', b: '\udfff' }, '/b', /U\+DFFF/],
    [['\ude00\ud83d'], '/0', /lone surrogate/],
    [{ 'k\ud800': 1 }, '/k\ud800', /member name with a lone surrogate/],
    [{ 'a/b': { '~': Number.NaN } }, '/a~1b/~0', /NaN is not a JSON number/],
    [JSON.parse('{"x":{"__proto__":{"polluted":1}}}'), '/x/__proto__', /__proto__/],
    [{ constructor: { prototype: {} } }, '/constructor', /prototype/],
    ['\ud800', '/', /lone surrogate/],
  ])('finds %j at %s', (value, path, message) => {
    const problem = findJsonValueProblem(value);
    expect(problem?.path).toBe(path);
    expect(problem?.message).toMatch(message);
  });

  it('accepts well-formed values, a constructor that is only a name, and exactly the bound', () => {
    expect(findJsonValueProblem({ a: ['😀', 1.5, null, true, { constructor: 'x' }], '基因': '' })).toBeUndefined();
    let value: unknown = 'leaf';
    for (let i = 0; i < JSON_MAX_DEPTH; i += 1) value = [value];
    expect(findJsonValueProblem(value)).toBeUndefined();
    expect(findJsonValueProblem([value])?.message).toMatch(/nests deeper than 64 levels/);
  });

  it('refuses a million levels and a cycle without exhausting the stack', () => {
    let deep: unknown = [];
    for (let i = 0; i < 1_000_000; i += 1) deep = { a: deep };
    expect(findJsonValueProblem(deep)?.message).toMatch(/nests deeper/);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(findJsonValueProblem(cycle)?.message).toMatch(/nests deeper/);
  });
});

describe('parseJsonText', () => {
  it.each([
    ['too deep', bytes(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`), 'ERR_REQUEST_JSON_TOO_DEEP'],
    ['not UTF-8', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]), 'ERR_REQUEST_INVALID'],
    ['an escaped lone surrogate', bytes('{"a":"\\ud800"}'), 'ERR_REQUEST_INVALID'],
    ['a raw lone surrogate in a string', '{"a":"\ud800"}', 'ERR_REQUEST_INVALID'],
    ['empty', bytes('  '), 'ERR_REQUEST_INVALID'],
    ['not JSON', bytes('{"a":'), 'ERR_REQUEST_INVALID'],
  ])('refuses %s with a GatewayError', (_what, input, code) => {
    expect(() => parseJsonText(input, 'the body')).toThrow(expect.objectContaining({ name: 'GatewayError', code }));
  });

  it('parses everything else as JSON.parse does', () => {
    fc.assert(
      fc.property(trickyJson, (value) => {
        const text = JSON.stringify(value);
        expect(parseJsonText(bytes(text), 'the body')).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });
});

describe('findYamlDepthProblem', () => {
  it.each([
    ['flow', `a: ${'['.repeat(65)}${']'.repeat(65)}\n`, 1],
    ['block maps', `a:\n${Array.from({ length: 100 }, (_, i) => `${' '.repeat(i + 1)}b${i}:`).join('\n')} 1\n`, 65],
    ['compact sequences', `list:\n${'- '.repeat(80)}x\n`, 2],
    ['100 000 flow levels', `${'['.repeat(100_000)}${']'.repeat(100_000)}`, 1],
  ])('names the line where %s pass the bound', (_what, text, line) => {
    expect(findYamlDepthProblem(text)).toEqual({ line, message: 'nests deeper than 64 levels' });
  });

  it('lets ordinary documents and exactly the bound through', () => {
    expect(findYamlDepthProblem('a: {b: [1, {c: d}]}\nx:\n  - y: 1\n    z:\n      - 2\n')).toBeUndefined();
    expect(findYamlDepthProblem(`a: ${'['.repeat(63)}${']'.repeat(63)}\n`)).toBeUndefined();
    expect(findYamlDepthProblem('a: [unclosed\n')).toBeUndefined();
  });
});
