/** The performance engine: windows, goal status and alerts. Pure: no I/O; time comes from arguments or a Clock. */
export { acknowledgeAlert, alertIdOf, hasAcknowledgement } from './alerts.js';
export {
  correctionWindowMs,
  defaultCorrectionWindowMs,
  heldCorrectionId,
  needsApproval,
} from './correction-policy.js';
export {
  type Correction,
  type CountedEvent,
  Engine,
  type EngineEvent,
  type EngineOptions,
  type Evaluation,
  type EventRange,
  type IngestResult,
  type RestoreInput,
} from './engine.js';
export { mergeRollupRows, type RollupRow, rollupKeyOf } from './rollup.js';
export { type RuleSpec, rulesOf } from './rules.js';
export { relativeAccuracy } from './sketch.js';
export { stagnationProgressFraction, trendSlotMs } from './status.js';
export { type WindowGeometry, windowGeometry, windowRange } from './window.js';
