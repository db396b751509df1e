#!/usr/bin/env node
// Fails (exit 1) if the gateway's modules import each other in a cycle, printing each cycle as
// `gateway/a.ts -> gateway/b.ts -> gateway/a.ts`, or if an import points the wrong way between
// folders: nothing imports app/ (the composition root) but the CLI's entry, and only app/ imports
// http/ (an adapter, like the CLI). Run by `npm run lint`.
//
// The graph comes from dpdm (its own TypeScript parser), which resolves NodeNext-style `./x.js`
// specifiers to `./x.ts`. Type-only imports count as edges too: a cycle through types is still a
// cycle between modules. As a guard against a resolver that silently sees nothing, every relative
// import must resolve to a file, and the gateway must show at least one module-to-module edge.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCircular, parseDependencyTree } from 'dpdm';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SOURCES = 'gateway/**/*.ts';

const tree = await parseDependencyTree(SOURCES, {
  cwd: root,
  context: root,
  tsconfig: path.join(root, 'tsconfig.json'),
  transform: false, // keep `import type` edges
  skipDynamicImports: false,
  exclude: /node_modules/,
});

const rel = (id) => path.relative(root, path.resolve(root, id)).split(path.sep).join('/');
const modules = Object.keys(tree).filter((id) => rel(id).startsWith('gateway/') && /\.tsx?$/.test(id));

const unresolved = [];
let internalEdges = 0;
for (const id of modules) {
  for (const dependency of tree[id] ?? []) {
    const isRelative = dependency.request.startsWith('.') || dependency.request.startsWith('/');
    if (dependency.id === null) {
      if (isRelative) unresolved.push(`${rel(id)}: cannot resolve '${dependency.request}'`);
      continue;
    }
    if (isRelative && !existsSync(path.resolve(root, dependency.id))) {
      unresolved.push(`${rel(id)}: '${dependency.request}' resolved to missing ${rel(dependency.id)}`);
    }
    if (rel(dependency.id).startsWith('gateway/')) internalEdges += 1;
  }
}

let failed = false;
if (unresolved.length > 0) {
  failed = true;
  console.error(`import-cycles: ${unresolved.length} relative import(s) could not be resolved:`);
  for (const line of unresolved) console.error(`  ${line}`);
}
if (modules.length > 1 && internalEdges === 0) {
  failed = true;
  console.error(`import-cycles: ${modules.length} modules but no import between them was resolved; the check would be blind`);
}

const cycles = parseCircular(tree).map((cycle) => cycle.map(rel));
if (cycles.length > 0) {
  failed = true;
  console.error(`import-cycles: ${cycles.length} import cycle(s) in gateway/:`);
  for (const cycle of cycles) console.error(`  ${[...cycle, cycle[0]].join(' -> ')}`);
}

/** Folders only these others may import (besides themselves). */
const IMPORTED_ONLY_BY = { app: ['cli'], http: ['app'], cli: [] };
const folderOf = (file) => file.split('/')[1];
const wrongWay = [];
for (const id of modules) {
  const from = folderOf(rel(id));
  for (const dependency of tree[id] ?? []) {
    if (dependency.id === null || !rel(dependency.id).startsWith('gateway/')) continue;
    const to = folderOf(rel(dependency.id));
    const allowed = IMPORTED_ONLY_BY[to];
    if (allowed && to !== from && !allowed.includes(from)) wrongWay.push(`${rel(id)} -> ${rel(dependency.id)}`);
  }
}
if (wrongWay.length > 0) {
  failed = true;
  console.error(`import-cycles: ${wrongWay.length} import(s) point the wrong way (app/ is imported by entries only, http/ by app/ only):`);
  for (const line of wrongWay) console.error(`  ${line}`);
}

if (failed) process.exit(1);
console.log(`import-cycles: no cycles among ${modules.length} modules (${internalEdges} internal imports); no import into app/ or http/ from below`);
