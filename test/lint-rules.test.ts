// The layering rules of eslint.config.js bite: an import of another folder's internals is an error,
// an import of its public surface is not, and a core folder may not reach Fastify.
import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const eslint = new ESLint({ cwd: root });

async function rulesBroken(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return (result?.messages ?? []).map((message) => message.ruleId ?? message.message);
}

describe('folder surfaces', () => {
  it("refuses an import of another folder's internal file", async () => {
    expect(await rulesBroken('gateway/transfer/probe.ts', "export { analyzeContent } from '../inspect/analyze-content.js';\n")).toContain('local/folder-surface');
    expect(await rulesBroken('gateway/http/probe.ts', "import { createUploadHandler } from '../transfer/upload-pass.js';\nexport const x = createUploadHandler;\n")).toContain(
      'local/folder-surface',
    );
  });

  it("accepts an import of a folder's public file, and any import within a folder", async () => {
    expect(await rulesBroken('gateway/transfer/probe.ts', "export { createInspector } from '../inspect/create-inspector.js';\n")).toEqual([]);
    expect(await rulesBroken('gateway/inspect/probe.ts', "export { analyzeContent } from './analyze-content.js';\n")).toEqual([]);
  });

  it('keeps Fastify out of the core', async () => {
    expect(await rulesBroken('gateway/transfer/probe.ts', "export { fastify } from 'fastify';\n")).toContain('no-restricted-imports');
  });
});
