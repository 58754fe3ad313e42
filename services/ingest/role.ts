import type { RoleFactory } from '../runtime/role.js';

/** The ingest role. Wired in by its own issue; until then it adds nothing to the process. */
export const ingestRole: RoleFactory = () => {};
