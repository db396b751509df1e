// Finds the few places in a buffer where an identifier can be, 32 bytes at a time with WebAssembly
// SIMD, so that the matchers (plain TypeScript) look only there. Reading bytes one at a time in
// JavaScript costs about a nanosecond a byte, slower than the SHA-256 every upload pays anyway; this
// pass costs a fraction of that, and in tables of numbers (CSV, VCF) it finds next to nothing.
//
// Per block, byte classes become bit masks (bit k = byte k): digits, capitals, space, hyphen,
// space-hyphen-or-dot, '@'. Each mask holds the previous block in its low half and this block in its
// high half, so "the byte k back" is a shift left by k. A candidate is a byte j where:
//  - j is '@' (an e-mail's anchor);
//  - j is the first byte after a run of 11–18 digits (phone and identity numbers written without
//    separators), or after a run of 6 or 7 digits that follows a capital (an HKID);
//  - j is a digit right after a space (or hyphen) that ends a run of 2–4 (2–3) digits: the first group
//    of a grouped phone number.
// A run that follows a space, hyphen or dot that follows a digit is a later group or a fraction, never
// an identifier's start, and gives no candidate; nor do dates ("1985-03-12"). These conditions only
// pass over places where the matchers could not find an identifier: each identifier's candidate is
// found. A candidate lies at most MAX_CANDIDATE_DELAY bytes after its identifier's anchor, and is
// judged on at most the 20 bytes before it.
import { encodeModule, I32, I64, op, simd, sleb, uleb, V128, type ValueType } from './encode-wasm.js';

/** A candidate lies at most this far after the anchor of the identifier it stands for (18 digits). */
export const MAX_CANDIDATE_DELAY = 18;

const BLOCK = 32;
/** Zeroed bytes before the window: at the start of the stream, nothing (no digit) precedes it. */
const GUARD = 64;
/** Zeroed bytes after the last valid byte, so a run of digits at the very end is seen to end. */
const PAD = 64;
const PAGE = 65536;

type Code = readonly number[];

// Parameters, then locals, by index.
const START = 0; // address of the first block (read for context only, never reported)
const END = 1; // blocks start below this address
const OUT = 2; // where (block address, candidate mask) pairs go
const I32_LOCALS = ['p', 'count', 'candidates', 'address'] as const;
const I64_LOCALS = ['digit', 'upper', 'space', 'hyphen', 'separatorOrDot', 'p1', 'p2', 'p4', 'p8', 'p11', 'runStart', 'freshEnd', 'runEnd'] as const;
const V128_LOCALS = ['low', 'high', 'digitBias', 'digitBound', 'upperBias', 'upperBound', 'spaces', 'hyphens', 'dots', 'ats'] as const;
type LocalName = (typeof I32_LOCALS)[number] | (typeof I64_LOCALS)[number] | (typeof V128_LOCALS)[number];
const LOCAL_INDEX = new Map<LocalName, number>([...I32_LOCALS, ...I64_LOCALS, ...V128_LOCALS].map((name, i) => [name, 3 + i]));

function index(name: LocalName): number {
  const at = LOCAL_INDEX.get(name);
  if (at === undefined) throw new Error(`no local ${name}`);
  return at;
}

const get = (name: LocalName): Code => [op.localGet, ...uleb(index(name))];
const set = (name: LocalName, value: Code): Code => [...value, op.localSet, ...uleb(index(name))];
const param = (at: number): Code => [op.localGet, ...uleb(at)];
const i32 = (value: number): Code => [op.i32Const, ...sleb(value)];
const i64 = (value: number): Code => [op.i64Const, ...sleb(value)];
const vector = (code: number): Code => [op.simd, ...uleb(code)];
const splat = (byte: number): Code => [...vector(simd.v128Const), ...new Array<number>(16).fill(byte & 0xff)];

// i64 expressions.
const binary = (opcode: number) => (...terms: Code[]): Code => terms.slice(1).reduce<Code>((acc, term) => [...acc, ...term, opcode], terms[0] ?? []);
const and = binary(op.i64And);
const or = binary(op.i64Or);
const xor = binary(op.i64Xor);
const add = binary(op.i64Add);
const not = (x: Code): Code => xor(x, i64(-1));
/** Bit j of the result is bit j − k of `x`: "k bytes back". */
const back = (x: Code, k: number): Code => [...x, ...i64(k), op.i64Shl];

/** 16 bits: which bytes of a vector are in [low, low + size), as a signed compare after a shift. */
const inRange = (v: LocalName, bias: LocalName, bound: LocalName): Code => [...get(v), ...get(bias), ...vector(simd.i8x16Add), ...get(bound), ...vector(simd.i8x16LtS), ...vector(simd.i8x16Bitmask)];
const equalTo = (v: LocalName, constant: LocalName): Code => [...get(v), ...get(constant), ...vector(simd.i8x16Eq)];
const bits = (compare: Code): Code => [...compare, ...vector(simd.i8x16Bitmask)];
const separatorOrDot = (v: LocalName): Code => bits([...equalTo(v, 'spaces'), ...equalTo(v, 'hyphens'), ...vector(simd.v128Or), ...equalTo(v, 'dots'), ...vector(simd.v128Or)]);
/** This block's 32 bits of a class, from the two 16-byte halves. */
const block32 = (half: (v: LocalName) => Code): Code => [...half('low'), ...half('high'), ...i32(16), op.i32Shl, op.i32Or];
/** Slides this block's 32 bits into the high half of a mask, the previous block's into the low half. */
const slide = (mask: LocalName, half: (v: LocalName) => Code): Code =>
  set(mask, or([...get(mask), ...i64(32), op.i64ShrU], back([...block32(half), op.i64ExtendI32U], 32)));
/**
 * The runs of digits that start at a bit of `starts` (a subset of run starts), marked from start to
 * the byte after: adding carries each start bit through its run to the first non-digit.
 */
const marked = (starts: Code): Code => xor(add(get('digit'), starts), get('digit'));

/**
 * Bias and bound that make "low ≤ byte < low + size" one signed compare: the range moves to the
 * bottom of the signed bytes.
 */
function rangeConstants(low: number, size: number): [number, number] {
  return [0x80 - low, -128 + size];
}

function kernelBody(): Code {
  const [digitBias, digitBound] = rangeConstants(0x30, 10);
  const [upperBias, upperBound] = rangeConstants(0x41, 26);
  const digit = get('digit');
  const p1 = get('p1');
  const p2 = get('p2');
  const p4 = get('p4');
  const p8 = get('p8');
  return [
    ...set('digitBias', splat(digitBias)),
    ...set('digitBound', splat(digitBound)),
    ...set('upperBias', splat(upperBias)),
    ...set('upperBound', splat(upperBound)),
    ...set('spaces', splat(0x20)),
    ...set('hyphens', splat(0x2d)),
    ...set('dots', splat(0x2e)),
    ...set('ats', splat(0x40)),
    ...set('p', param(START)),
    ...[op.block, op.void, op.loop, op.void],
    ...[...get('p'), ...param(END), op.i32GeU, op.brIf, 1],
    ...set('low', [...get('p'), ...vector(simd.v128Load), 4, 0]),
    ...set('high', [...get('p'), ...vector(simd.v128Load), 4, 16]),
    ...slide('digit', (v) => inRange(v, 'digitBias', 'digitBound')),
    ...slide('upper', (v) => inRange(v, 'upperBias', 'upperBound')),
    ...slide('space', (v) => bits(equalTo(v, 'spaces'))),
    ...slide('hyphen', (v) => bits(equalTo(v, 'hyphens'))),
    ...slide('separatorOrDot', separatorOrDot),
    // pK: the K bytes before each position are all digits.
    ...set('p1', back(digit, 1)),
    ...set('p2', and(p1, back(p1, 1))),
    ...set('p4', and(p2, back(p2, 2))),
    ...set('p8', and(p4, back(p4, 4))),
    ...set('p11', and(p8, back(p4, 7))),
    ...set('runStart', and(digit, not(p1))),
    ...set('runEnd', and(p1, not(digit))),
    // Ends of runs that may start an identifier: not after a separator or dot that follows a digit.
    ...set('freshEnd', and(get('runEnd'), not(marked(and(get('runStart'), back(and(get('separatorOrDot'), p1), 1)))))),
    ...set(
      'candidates',
      [
        ...or(
          // First groups: 2–4 digits before a space, 2–3 before a hyphen, reported at the next digit.
          and(back(and(get('freshEnd'), p2, or(and(get('space'), not(and(p4, back(p1, 4)))), and(get('hyphen'), not(p4)))), 1), digit),
          // 11–18 digits.
          and(get('freshEnd'), get('p11'), not(back(p8, 11))),
          // 6–7 digits after a capital.
          and(get('runEnd'), marked(and(get('runStart'), back(get('upper'), 1))), p4, back(p2, 4), not(back(p4, 4))),
        ),
        ...i64(32),
        op.i64ShrU,
        op.i32WrapI64,
        ...block32((v) => bits(equalTo(v, 'ats'))),
        op.i32Or,
      ],
    ),
    // Report the block when it has candidates and is not the first (context only).
    ...[...get('candidates'), op.i32Eqz, op.i32Eqz, ...get('p'), ...param(START), op.i32GtU, op.i32And, op.if, op.void],
    ...set('address', [...param(OUT), ...get('count'), ...i32(3), op.i32Shl, op.i32Add]),
    ...[...get('address'), ...get('p'), op.i32Store, 2, 0],
    ...[...get('address'), ...get('candidates'), op.i32Store, 2, 4],
    ...set('count', [...get('count'), ...i32(1), op.i32Add]),
    op.end,
    ...set('p', [...get('p'), ...i32(BLOCK), op.i32Add]),
    ...[op.br, 0, op.end, op.end],
    ...get('count'),
  ];
}

/** The part of the WebAssembly JS API used here (the project's TypeScript libs do not declare it). */
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => WasmModule;
  readonly Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => { readonly exports: Record<string, unknown> };
  readonly Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer };
}
interface WasmModule {
  readonly kind?: 'wasm-module';
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: WasmModule | undefined;

function kernelModule(): WasmModule {
  compiled ??= new wasm.Module(
    encodeModule(
      {
        exportName: 'locate',
        params: [I32, I32, I32],
        results: [I32],
        locals: [...I32_LOCALS.map((): ValueType => I32), ...I64_LOCALS.map((): ValueType => I64), ...V128_LOCALS.map((): ValueType => V128)],
        body: kernelBody(),
      },
      1,
    ),
  );
  return compiled;
}

export interface CandidateLocator {
  /** The buffer to fill and look in (`windowBytes` long); it lives in the kernel's memory. */
  readonly window: Uint8Array;
  /**
   * Finds the candidates in [from, end) of `window` (and possibly a few just outside that range),
   * judging the bytes before `from` as context, and keeps them for `visit`. Bytes at and after
   * `limit` count as no bytes at all (the first PAD of them are zeroed).
   */
  locate(from: number, end: number, limit: number): void;
  /**
   * Calls `visitor` with each candidate of the last `locate` in [from, end), in order. Calls after one
   * `locate` must come with `from` not decreasing (spans of lines, in order).
   */
  visit(from: number, end: number, visitor: (at: number) => void): void;
}

/** A locator with its own window of `windowBytes` bytes. */
export function createCandidateLocator(windowBytes: number): CandidateLocator {
  const outAt = (GUARD + windowBytes + PAD + 7) & ~7;
  const maxPairs = Math.ceil((windowBytes + PAD) / BLOCK) + 2;
  const memory = new wasm.Memory({ initial: Math.ceil((outAt + maxPairs * 8) / PAGE) });
  const instance = new wasm.Instance(kernelModule(), { env: { memory } });
  const kernel = instance.exports.locate as (start: number, end: number, out: number) => number;
  const all = new Uint8Array(memory.buffer);
  const pairs = new Int32Array(memory.buffer, outAt, maxPairs * 2);
  let count = 0;
  let cursor = 0; // first pair that can still hold a candidate at or after the last `from` visited
  return {
    window: new Uint8Array(memory.buffer, GUARD, windowBytes),
    locate(from, end, limit) {
      cursor = 0;
      count = 0;
      if (end <= from) return;
      all.fill(0, GUARD + limit, GUARD + limit + PAD);
      const first = ((GUARD + from) & ~(BLOCK - 1)) - BLOCK;
      count = kernel(first, GUARD + Math.min(end, limit + 1), outAt);
    },
    visit(from, end, visitor) {
      while (cursor < count && pairs[2 * cursor]! - GUARD + BLOCK <= from) cursor += 1;
      for (let i = cursor; i < count; i += 1) {
        const block = pairs[2 * i]! - GUARD;
        if (block >= end) return;
        for (let mask = pairs[2 * i + 1]!; mask !== 0; mask &= mask - 1) {
          const at = block + 31 - Math.clz32(mask & -mask);
          if (at >= from && at < end) visitor(at);
        }
      }
    },
  };
}
