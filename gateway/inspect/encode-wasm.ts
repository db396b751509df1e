// Encodes a WebAssembly module of one function over an imported memory (binary format, WebAssembly
// core spec §5), so a kernel can be written as readable instructions in TypeScript and compiled by the
// engine at load time: no toolchain, no binary checked in.

/** Value types (§5.3.1). */
export const I32 = 0x7f;
export const I64 = 0x7e;
export const V128 = 0x7b;
export type ValueType = typeof I32 | typeof I64 | typeof V128;

/** Instructions used by the inspector's kernels (§5.4); SIMD ones are 0xfd and an opcode. */
export const op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Store: 0x36,
  i32Const: 0x41,
  i64Const: 0x42,
  i32Eqz: 0x45,
  i32GeU: 0x4f,
  i32GtU: 0x4b,
  i64Eqz: 0x50,
  i32Add: 0x6a,
  i32And: 0x71,
  i32Or: 0x72,
  i32Shl: 0x74,
  i64And: 0x83,
  i64Or: 0x84,
  i64Xor: 0x85,
  i64Add: 0x7c,
  i64Shl: 0x86,
  i64ShrU: 0x88,
  i32WrapI64: 0xa7,
  i64ExtendI32U: 0xad,
  simd: 0xfd,
  /** Block type of a block that leaves nothing on the stack. */
  void: 0x40,
} as const;

export const simd = {
  v128Load: 0x00,
  v128Const: 0x0c,
  i8x16Eq: 0x23,
  i8x16LtS: 0x25,
  v128Or: 0x50,
  i8x16Bitmask: 0x64,
  i8x16Add: 0x6e,
} as const;

export interface FunctionSpec {
  readonly exportName: string;
  readonly params: readonly ValueType[];
  readonly results: readonly ValueType[];
  /** Declared locals after the parameters, in order. */
  readonly locals: readonly ValueType[];
  /** The body's instructions, without the final `end`. */
  readonly body: readonly number[];
}

/** Unsigned LEB128. */
export function uleb(value: number): number[] {
  const bytes: number[] = [];
  let rest = value >>> 0;
  do {
    const low = rest & 0x7f;
    rest >>>= 7;
    bytes.push(rest === 0 ? low : low | 0x80);
  } while (rest !== 0);
  return bytes;
}

/** Signed LEB128 of a 32-bit integer (i32.const, and i64.const of small values). */
export function sleb(value: number): number[] {
  const bytes: number[] = [];
  let rest = value | 0;
  for (;;) {
    const low = rest & 0x7f;
    rest >>= 7;
    const done = (rest === 0 && (low & 0x40) === 0) || (rest === -1 && (low & 0x40) !== 0);
    bytes.push(done ? low : low | 0x80);
    if (done) return bytes;
  }
}

function vector(items: readonly (readonly number[])[]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function section(id: number, content: readonly number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

function name(text: string): number[] {
  const bytes = [...Buffer.from(text, 'utf8')];
  return [...uleb(bytes.length), ...bytes];
}

/** A module importing `env.memory` (at least `minPages`) and exporting one function. */
export function encodeModule(spec: FunctionSpec, minPages: number): Uint8Array {
  const functionType = [0x60, ...vector(spec.params.map((t) => [t])), ...vector(spec.results.map((t) => [t]))];
  const memoryImport = [...name('env'), ...name('memory'), 0x02, 0x00, ...uleb(minPages)];
  // Locals as runs of one type.
  const runs: number[][] = [];
  for (const type of spec.locals) {
    const last = runs[runs.length - 1];
    if (last && last[1] === type) last[0] = (last[0] ?? 0) + 1;
    else runs.push([1, type]);
  }
  const code = [...vector(runs.map(([count, type]) => [...uleb(count ?? 0), type ?? I32])), ...spec.body, op.end];
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector([functionType])),
    ...section(2, vector([memoryImport])),
    ...section(3, vector([uleb(0)])),
    ...section(7, vector([[...name(spec.exportName), 0x00, ...uleb(0)]])),
    ...section(10, vector([[...uleb(code.length), ...code]])),
  ]);
}
