// The WebAssembly encoder the candidate kernel is written with: LEB128 integers as the binary format
// spells them, and a module the engine accepts and runs.
import { describe, expect, it } from 'vitest';
import { encodeModule, I32, op, sleb, uleb } from '../../gateway/inspect/encode-wasm.js';

interface Wasm {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer };
}
const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;

describe('LEB128', () => {
  it('encodes unsigned values in 7-bit groups, low first', () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(127)).toEqual([0x7f]);
    expect(uleb(128)).toEqual([0x80, 0x01]);
    expect(uleb(624_485)).toEqual([0xe5, 0x8e, 0x26]);
  });

  it('encodes signed values with the sign in the last group', () => {
    expect(sleb(0)).toEqual([0]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(63)).toEqual([0x3f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(sleb(-64)).toEqual([0x40]);
    expect(sleb(-65)).toEqual([0xbf, 0x7f]);
    expect(sleb(-123_456)).toEqual([0xc0, 0xbb, 0x78]);
  });
});

describe('encodeModule', () => {
  it('makes a module that validates and runs over the imported memory', () => {
    // (a, b, c) => a + b + c + 300, with locals declared as the kernel declares them.
    const bytes = encodeModule(
      {
        exportName: 'sum',
        params: [I32, I32, I32],
        results: [I32],
        locals: [I32],
        body: [op.localGet, 0, op.localGet, 1, op.i32Add, op.localGet, 2, op.i32Add, op.i32Const, ...sleb(300), op.i32Add, op.localTee, 3],
      },
      1,
    );
    expect(wasm.validate(bytes)).toBe(true);
    const instance = new wasm.Instance(new wasm.Module(bytes), { env: { memory: new wasm.Memory({ initial: 1 }) } });
    expect((instance.exports.sum as (a: number, b: number, c: number) => number)(1, 2, 3)).toBe(306);
  });
});
