// A small JSON state file read back: absent is not an error (nothing kept yet), and a file that is not
// JSON is handed on as `undefined` for the caller's shape check to refuse, naming what it expected.
import { readFile } from 'node:fs/promises';

export async function readJsonFile(file: string): Promise<{ readonly found: false } | { readonly found: true; readonly value: unknown }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { found: false };
    throw error;
  }
  try {
    return { found: true, value: JSON.parse(text) as unknown };
  } catch {
    return { found: true, value: undefined };
  }
}
