import { setFlagsFromString } from 'node:v8';

/**
 * Keeps V8's heap within 1.5× of what is live. By default V8 lets the heap grow to up to about four
 * times the live data between major collections, and keeps what it reserved: a processor whose live
 * state is ~120 MiB then holds ~450 MiB (bench/soak.ts). The cost is more frequent major collections
 * (the soak's throughput did not change). Call once, first thing in the process.
 */
export function boundHeapGrowth(): void {
  setFlagsFromString('--heap-growing-percent=50');
}
