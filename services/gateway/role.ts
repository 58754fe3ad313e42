import type { RoleFactory } from '../runtime/role.js';

/** The gateway role. Wired in by its own issue; until then it adds nothing to the process. */
export const gatewayRole: RoleFactory = () => {};
