import { randomBytes } from 'node:crypto';

/**
 * A random admin token for one run, for `--demo` when `GLASSHOUSE_ADMIN_TOKEN` is unset: the demo seeds
 * its government through the public API, which only admits an admin. It is never printed or stored; set
 * `GLASSHOUSE_ADMIN_TOKEN` to administer the same registry yourself.
 */
export function ephemeralAdminToken(): string {
  return randomBytes(32).toString('base64url');
}
