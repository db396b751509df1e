// Where a worker thread starts from: the compiled .js module beside the caller, or, when the caller
// itself runs as TypeScript (vitest, tsx), a tiny ES module that registers tsx's loader (the
// project's own copy) and then imports the .ts one — Node 20 ignores `--import` in a worker's execArgv.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TSX_API = new URL('../../node_modules/tsx/dist/esm/api/index.mjs', import.meta.url);

/** @param moduleName the worker module's file name without extension, beside `callerUrl`. */
export function threadEntry(moduleName: string, callerUrl: string): URL {
  const extension = path.extname(fileURLToPath(callerUrl));
  const module = new URL(`./${moduleName}${extension}`, callerUrl);
  if (extension !== '.ts') return module;
  return new URL(`data:text/javascript,${encodeURIComponent(`import { register } from ${JSON.stringify(TSX_API.href)}; register(); await import(${JSON.stringify(module.href)});`)}`);
}
