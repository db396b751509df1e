// Names shared by the export writer and the offline verifier (docs/audit-export.md describes the format).
export const EXPORT_FORMAT = 'hetao-audit-export';
export const EXPORT_VERSION = 1;
/** `typ` of the manifest JWS that ends every export. */
export const EXPORT_MANIFEST_TYP = 'hetao-audit-export+jws';

export interface ExportSelection {
  readonly fromSeq?: number;
  readonly toSeq?: number;
  readonly fromTime?: string;
  readonly toTime?: string;
  /** True when a caller-supplied predicate also selected entries. */
  readonly filtered: boolean;
}

/** Line 1. */
export interface ExportHeader {
  readonly kind: 'header';
  readonly format: typeof EXPORT_FORMAT;
  readonly version: typeof EXPORT_VERSION;
  readonly origin: string;
  readonly exportedAt: string;
  readonly selection: ExportSelection;
}

/** The payload of the final line's JWS. */
export interface ExportManifest {
  readonly format: typeof EXPORT_FORMAT;
  readonly version: typeof EXPORT_VERSION;
  readonly origin: string;
  readonly exportedAt: string;
  /** Lines before the manifest line (header included). */
  readonly lines: number;
  readonly entries: number;
  readonly checkpoints: number;
  /** Lowercase hex SHA-256 of every byte before the manifest line. */
  readonly sha256: string;
}
