// The depth bound of json-bounds.ts for YAML files (policies, registry), checked before the YAML
// library composes the document: its composer recurses (and only survives very deep input by
// catching the stack overflow), while its CST parser keeps an explicit stack. So the text is first
// read into the concrete syntax tree, whose collections are counted here without recursion.
import { Parser, type CST } from 'yaml';
import { JSON_MAX_DEPTH } from './json-bounds.js';

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line += 1;
  return line;
}

/**
 * Where YAML text nests collections (block or flow maps and sequences) deeper than `maxDepth`:
 * the 1-based line of the first collection past the bound, or undefined when the text stays within
 * it. Syntax errors are not judged here; the composer reports them.
 */
export function findYamlDepthProblem(text: string, maxDepth: number = JSON_MAX_DEPTH): { line: number; message: string } | undefined {
  const stack: [CST.Token, number][] = [];
  for (const token of new Parser().parse(text)) stack.push([token, 0]);
  while (stack.length > 0) {
    const [token, depth] = stack.pop() as [CST.Token, number];
    if (token.type === 'document') {
      if (token.value) stack.push([token.value, depth]);
      continue;
    }
    if (token.type !== 'block-map' && token.type !== 'block-seq' && token.type !== 'flow-collection') continue;
    const level = depth + 1;
    if (level > maxDepth) return { line: lineAt(text, token.offset), message: `nests deeper than ${maxDepth} levels` };
    for (const item of token.items) {
      if (item.key) stack.push([item.key, level]);
      if (item.value) stack.push([item.value, level]);
    }
  }
  return undefined;
}
