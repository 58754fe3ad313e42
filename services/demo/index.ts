export { ephemeralAdminToken } from './admin-token.js';
export { localBaseUrl } from './client.js';
export { DemoComponent, type DemoOptions } from './component.js';
