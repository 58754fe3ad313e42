import { createHash } from 'node:crypto';
import type { AlertEventMs, AlertKind, Severity } from '../../../schemas/alert.js';

/**
 * An alert's id: the first 32 hex digits of SHA-256 over `moduleId|ruleId|kind|episodeStartMs` (the
 * event time the episode started, in epoch ms). The module version is left out, so replays, restarts
 * and goal edits never open a second alert for the same episode.
 */
export function alertIdOf(moduleId: string, ruleId: string, kind: AlertKind, episodeStartMs: number): string {
  return createHash('sha256')
    .update(`${moduleId}|${ruleId}|${kind}|${episodeStartMs}`)
    .digest('hex')
    .slice(0, 32);
}

/** The next version of an alert acknowledged by an overseer. The state does not change. */
export function acknowledgeAlert(latest: AlertEventMs, by: string, note: string, atMs: number): AlertEventMs {
  return {
    ...latest,
    version: latest.version + 1,
    updatedMs: Math.max(atMs, latest.updatedMs),
    acknowledgedBy: by,
    acknowledgedMs: atMs,
    note,
  };
}

/**
 * True when `alert` already carries this acknowledgement (same overseer, note and time): applying the
 * same command again (a replay after a restart) must not make another version.
 */
export function hasAcknowledgement(alert: AlertEventMs, by: string, note: string, atMs: number): boolean {
  return alert.acknowledgedBy === by && alert.note === note && alert.acknowledgedMs === atMs;
}

/** Who and what an alert is about; the module version and owner are those in force at each version. */
export interface AlertSubject {
  moduleId: string;
  moduleVersion: number;
  owner: string;
  ruleId: string;
  kind: AlertKind;
  /** How long a deviation (and, for a firing alert, a recovery) must persist before the state changes. */
  holdMs: number;
}

/** What one evaluation saw, at time `t` (event time for rules, wall clock for data_gap). */
export interface AlertReading {
  t: number;
  /** The condition that opens and fires the alert (off_track, a violated bound, stagnating, silence). */
  deviating: boolean;
  /** The condition that resolves it (hysteresis: shortfall ≤ 0.8 × tolerance, for goals). */
  recovered: boolean;
  severity: Severity;
  observed: number | null;
  target: number | null;
  shortfall: number | null;
  message: string;
}

/**
 * One rule's alert lifecycle for one kind: none → pending → firing → resolved.
 *
 * - A deviation opens the alert at once: `pending`, or directly `firing` when hold is 0.
 * - A pending alert fires when the deviation has persisted for `hold`; one that recovers (reading
 *   `recovered`) before that is resolved without ever firing, so every opened id is closed explicitly.
 *   A reading that is neither deviating nor recovered (the hysteresis band, or no data) keeps it pending
 *   and restarts its hold.
 * - A firing alert resolves only after `recovered` has held for `hold`; a no-data reading is never
 *   `recovered`, so no data never resolves an alert.
 * - Severity, module version or owner changing while open make a new version.
 */
export class AlertTracker {
  private open: AlertEventMs | undefined;
  private deviatingSince: number | undefined;
  private recoveredSince: number | undefined;

  /** The latest version while pending or firing. */
  get current(): AlertEventMs | undefined {
    return this.open;
  }

  /** Feeds one evaluation; returns the new alert versions (zero or one). */
  step(subject: AlertSubject, reading: AlertReading): AlertEventMs[] {
    const { t } = reading;
    if (reading.deviating) this.deviatingSince ??= t;
    else this.deviatingSince = undefined;
    if (reading.recovered) this.recoveredSince ??= t;
    else this.recoveredSince = undefined;

    const open = this.open;
    if (!open) {
      if (!reading.deviating) return [];
      const start = t;
      const state = subject.holdMs === 0 ? 'firing' : 'pending';
      this.open = {
        alertId: alertIdOf(subject.moduleId, subject.ruleId, subject.kind, start),
        version: 1,
        moduleId: subject.moduleId,
        moduleVersion: subject.moduleVersion,
        ruleId: subject.ruleId,
        kind: subject.kind,
        severity: reading.severity,
        state,
        owner: subject.owner,
        openedMs: start,
        updatedMs: t,
        observed: reading.observed,
        target: reading.target,
        shortfall: reading.shortfall,
        message: reading.message,
      };
      return [this.open];
    }

    let state = open.state;
    if (state === 'pending') {
      if (reading.deviating && t - this.deviatingSince! >= subject.holdMs) state = 'firing';
      else if (reading.recovered) state = 'resolved';
    } else if (reading.recovered && t - this.recoveredSince! >= subject.holdMs) {
      state = 'resolved';
    }
    // Severity is re-rated only while deviating: recovering or missing data does not downgrade it.
    const severity = reading.deviating ? reading.severity : open.severity;
    const changed =
      state !== open.state ||
      severity !== open.severity ||
      subject.moduleVersion !== open.moduleVersion ||
      subject.owner !== open.owner;
    if (!changed) return [];
    const next: AlertEventMs = {
      ...open,
      version: open.version + 1,
      moduleVersion: subject.moduleVersion,
      owner: subject.owner,
      severity,
      state,
      updatedMs: Math.max(t, open.updatedMs),
      observed: reading.observed,
      target: reading.target,
      shortfall: reading.shortfall,
      message: reading.message,
    };
    if (state === 'resolved') {
      next.resolvedMs = next.updatedMs;
      this.open = undefined;
    } else {
      this.open = next;
    }
    return [next];
  }

  /** Closes an open alert explicitly (its rule was removed, or a correction removed its cause), saying why. */
  close(subject: AlertSubject, t: number, message: string, reason?: 'restated'): AlertEventMs[] {
    const open = this.open;
    if (!open) return [];
    this.open = undefined;
    const at = Math.max(t, open.updatedMs);
    return [
      {
        ...open,
        version: open.version + 1,
        moduleVersion: subject.moduleVersion,
        owner: subject.owner,
        state: 'resolved',
        updatedMs: at,
        resolvedMs: at,
        message,
        ...(reason ? { reason } : {}),
      },
    ];
  }

  /** Acknowledges the open alert; returns the new version, or undefined when none is open. */
  acknowledge(by: string, note: string, atMs: number): AlertEventMs | undefined {
    if (!this.open) return undefined;
    this.open = acknowledgeAlert(this.open, by, note, atMs);
    return this.open;
  }

  /**
   * Takes back an open alert after a restart, with the hold clocks as the stored history shows them
   * (the start of the trailing run of deviating, or recovered, readings). Without that history a
   * pending alert's hold runs from its `openedMs` and a firing alert's recovery hold starts afresh.
   */
  restore(latest: AlertEventMs, since: { deviating?: number; recovered?: number } = {}): void {
    if (latest.state === 'resolved') return;
    this.open = latest;
    this.deviatingSince = since.deviating ?? (latest.state === 'pending' ? latest.openedMs : undefined);
    this.recoveredSince = since.recovered;
  }
}
