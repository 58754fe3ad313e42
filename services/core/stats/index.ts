/** Statistics for the public queries: Welch's t-test, scorecards, history points. Pure: no I/O. */
export {
  type ComparisonSide,
  comparePairs,
  comparisonAlpha,
  formatP,
  type PairVerdict,
} from './comparison.js';
export { type HistoryPoint, historyPoints, requiredSamples } from './history.js';
export {
  addStatusTime,
  type CorrectionRate,
  correctionRateMethod,
  correctionRates,
  emptyStatusTime,
  meanMs,
  onTrackShare,
  type StatusPoint,
  type StatusTime,
  scorecardMethod,
  scoreOf,
  shareTrend,
  statusTime,
  type TrendWord,
} from './scorecard.js';
export { logGamma, regularizedIncompleteBeta, studentTCdf, studentTTwoSided } from './student-t.js';
export { type SampleSummary, summarize, type WelchResult, welchTest } from './welch.js';
