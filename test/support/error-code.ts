// The stable code a piece of work fails with: tests compare codes, never messages.
import { GatewayError } from '../../gateway/errors.js';

/** The GatewayError code `work` rejects (or throws) with; 'no error', or a description of a foreign error, otherwise. */
export async function errorCodeOf(work: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (error) {
    return error instanceof GatewayError ? error.code : `not a GatewayError: ${String(error)}`;
  }
  return 'no error';
}
