// The inspector's bounds with their defaults filled in, and sanity floors so that a tiny value cannot
// make detection impossible (DICOM's magic sits at byte 128) or a window smaller than one line.
import type { InspectorLimits } from './inspection-report.js';
import type { Sampling } from './scan-identifiers.js';

const KIB = 1024;
const MIB = 1024 * KIB;

export interface ResolvedLimits {
  readonly detectBytes: number;
  readonly sampling: Sampling;
  readonly inflateOutputBytes: number;
  readonly inflateInputBytes: number;
}

/** Fills in defaults: detect 64 KiB; sample after 16 MiB one 64 KiB window in 16; inflate ≤ 4 MiB out of ≤ 1 MiB (gzip). */
export function resolveLimits(limits: InspectorLimits = {}): ResolvedLimits {
  return {
    detectBytes: atLeast(limits.detectBytes ?? 64 * KIB, 4 * KIB),
    sampling: {
      fullBytes: atLeast(limits.fullScanBytes ?? 16 * MIB, 0),
      windowBytes: atLeast(limits.sampleWindowBytes ?? 64 * KIB, 4 * KIB),
      every: atLeast(limits.sampleEvery ?? 16, 1),
    },
    inflateOutputBytes: atLeast(limits.inflateOutputBytes ?? 4 * MIB, 64 * KIB),
    inflateInputBytes: atLeast(limits.inflateInputBytes ?? 1 * MIB, 64 * KIB),
  };
}

function atLeast(value: number, floor: number): number {
  return Number.isNaN(value) ? floor : Math.max(floor, Math.floor(value));
}
