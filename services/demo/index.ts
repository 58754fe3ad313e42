export { localBaseUrl } from './client.js';
export { DemoComponent, type DemoOptions } from './component.js';
