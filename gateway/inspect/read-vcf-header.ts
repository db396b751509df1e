// Counts a VCF's sample columns from its `#CHROM` line as the text streams by: the columns after the
// nine fixed ones (#CHROM POS ID REF ALT QUAL FILTER INFO FORMAT). Keeps a few integers of state, so a
// header of any length (thousands of contigs, a #CHROM line of half a million sample names) costs no
// memory, and stops looking once the header is over.

export interface VcfHeaderReader {
  write(bytes: Uint8Array): void;
  finish(): void;
  /** Sample columns, once the `#CHROM` line has been read whole; undefined before or without one. */
  readonly sampleColumns: number | undefined;
}

const NEWLINE = 0x0a;
const TAB = 0x09;
const FIXED_COLUMNS = 9;
const CHROM_LINE = Array.from('#CHROM', (c) => c.charCodeAt(0));

type State =
  | { readonly step: 'line-start' | 'skip-line' | 'counting' | 'done' }
  | { readonly step: 'prefix'; readonly matched: number };

/** A reader positioned at the start of the VCF text. */
export function createVcfHeaderReader(): VcfHeaderReader {
  let state: State = { step: 'line-start' };
  let tabs = 0;
  let sampleColumns: number | undefined;

  const endChromLine = (): void => {
    // Eight tabs: no FORMAT column and so no samples.
    sampleColumns = Math.max(0, tabs + 1 - FIXED_COLUMNS);
    state = { step: 'done' };
  };

  return {
    write(bytes) {
      for (let at = 0; at < bytes.length && state.step !== 'done'; ) {
        const byte = bytes[at]!;
        switch (state.step) {
          case 'line-start':
            // A line that is not a header line: the header is over without a #CHROM line.
            state = byte === CHROM_LINE[0] ? { step: 'prefix', matched: 1 } : byte === NEWLINE ? state : { step: 'done' };
            at += 1;
            break;
          case 'prefix':
            if (state.matched === CHROM_LINE.length) {
              state = { step: 'counting' };
            } else {
              state = byte === CHROM_LINE[state.matched] ? { step: 'prefix', matched: state.matched + 1 } : { step: 'skip-line' };
              if (byte === NEWLINE) state = { step: 'line-start' };
              at += 1;
            }
            break;
          case 'skip-line': {
            const newline = bytes.indexOf(NEWLINE, at);
            if (newline === -1) at = bytes.length;
            else {
              state = { step: 'line-start' };
              at = newline + 1;
            }
            break;
          }
          case 'counting':
            if (byte === NEWLINE) endChromLine();
            else if (byte === TAB) tabs += 1;
            at += 1;
            break;
        }
      }
    },
    finish() {
      if (state.step === 'counting' || (state.step === 'prefix' && state.matched === CHROM_LINE.length)) endChromLine();
    },
    get sampleColumns() {
      return sampleColumns;
    },
  };
}
