import type { RoleFactory } from '../runtime/role.js';

/** The api role. Wired in by its own issue; until then it adds nothing to the process. */
export const apiRole: RoleFactory = () => {};
