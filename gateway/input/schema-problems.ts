// Turns ajv validation errors on a YAML or JSON file into problems that name the file, the JSON
// path and (for YAML) the line, so an officer can find the mistake.
import type { ErrorObject } from 'ajv';
import { LineCounter, parseDocument, type Document } from 'yaml';

export interface FileProblem {
  readonly file: string;
  /** JSON Pointer into the document, e.g. `/institutions/2/status`. */
  readonly path: string;
  readonly line?: number;
  readonly message: string;
}

export interface ParsedYaml {
  readonly value: unknown;
  /** Line of a JSON Pointer, when the document still has the node. */
  lineOf(pointer: string): number | undefined;
}

/** Parses YAML keeping positions; syntax errors come back as problems. */
export function parseYamlWithPositions(text: string, file: string): ParsedYaml | FileProblem[] {
  const lineCounter = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return doc.errors.map((error) => ({
      file,
      path: '',
      line: error.linePos?.[0]?.line,
      message: error.message.split('\n')[0] ?? 'YAML syntax error',
    }));
  }
  return {
    value: doc.toJS({ maxAliasCount: 50 }),
    lineOf(pointer) {
      const segments = pointer.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
      const node = doc.getIn(segments.map((s) => (/^\d+$/.test(s) ? Number(s) : s)), true) as { range?: [number, number, number] } | undefined;
      return node?.range ? lineCounter.linePos(node.range[0]).line : undefined;
    },
  };
}

/** A problem inside one document: JSON Pointer, line when known, message. */
export type DocumentProblem = Omit<FileProblem, 'file'>;

/** One problem per ajv error, with the offending property named for `required`/`additionalProperties`. */
export function describeSchemaErrors(errors: readonly ErrorObject[], lineOf?: (pointer: string) => number | undefined): DocumentProblem[] {
  return errors.map((error) => {
    const extra = error.params as { missingProperty?: string; additionalProperty?: string; allowedValues?: unknown[] };
    let message = error.message ?? 'is invalid';
    if (extra.additionalProperty) message = `has unknown property "${extra.additionalProperty}"`;
    if (extra.allowedValues) message = `must be one of ${extra.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    const path = extra.missingProperty ? `${error.instancePath}/${extra.missingProperty}` : error.instancePath;
    const line = lineOf?.(error.instancePath);
    return { path: path || '/', ...(line === undefined ? {} : { line }), message };
  });
}

/** `file:line path message` lines for logs and the CLI. */
export function formatProblems(problems: readonly FileProblem[]): string {
  return problems.map((p) => `${p.file}${p.line === undefined ? '' : `:${p.line}`} ${p.path} ${p.message}`).join('\n');
}
