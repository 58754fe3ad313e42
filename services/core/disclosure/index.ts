export * from './protect.js';
