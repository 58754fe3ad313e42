export { BusError, type BusErrorCode } from './errors.js';
export { KafkaBus, type KafkaBusOptions } from './kafka-bus.js';
