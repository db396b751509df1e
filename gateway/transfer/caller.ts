// The caller of a transfer operation, reduced to what the transfer rules need.
import type { Role } from '../identity/require-role.js';

/** Who is calling, as the service needs to know it (built from the authenticated principal). */
export interface Caller {
  /** Principal id (institution id or person id). */
  readonly id: string;
  readonly role: Role;
  /** The caller's institution (for institutions, the same as `id`). */
  readonly institution: string;
}
