export {
  type CommandRejectionReason,
  type CommandVerdict,
  isCommandRecord,
  validateCommandRecord,
} from './command.js';
export { commandSignatureValid, deriveCommandKey, signCommand } from './command-signature.js';
export { checkDimensions, type DimensionCheck, dimensionDeclaration, openDimensions } from './dimensions.js';
export { type JsonParse, jsonErrorPosition, parseJson } from './json.js';
export {
  defaultMaxFutureMs,
  type EventRules,
  type EventVerdict,
  type ModuleLookup,
  maxFutureMs,
  type RejectionReason,
  type ValidEvent,
  validateMetricEvent,
} from './metric-event.js';
export { type RecordRejectionReason, type RecordVerdict, validateMetricRecord } from './record.js';
