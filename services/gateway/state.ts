import { type AlertEvent, type AlertEventMs, publicAlert } from '../../schemas/alert.js';
import {
  type GoalStatus,
  type PerformanceUpdate,
  type PerformanceUpdateMs,
  publicUpdate,
} from '../../schemas/performance.js';
import type { RegistryView } from '../ports/registry.js';

/** One row of the public scoreboard: a sociotechnician and how their modules' goals stand now. */
export interface ScoreboardRow {
  owner: string;
  name: string;
  modules: number;
  goals: Record<GoalStatus, number>;
  stagnating: number;
  openAlerts: number;
}

/** What changed when an update was applied, so the caller knows which channels care. */
export interface UpdateEffect {
  /** False for an update older than the one already known for the goal (replayed or reordered). */
  fresh: boolean;
  /** True when the goal's status or stagnation flag differs from the previous update. */
  statusChanged: boolean;
}

/** A goal's latest update: its time in epoch ms, and the public shape the frames carry. */
interface Known {
  asOfMs: number;
  shown: PerformanceUpdate;
}

/** An open alert's latest version: when it changed, in epoch ms, and the public shape the frames carry. */
interface KnownAlert {
  updatedMs: number;
  shown: AlertEvent;
}

/**
 * The gateway's in-memory picture, fed by the bus: the latest update per goal and the latest
 * version of every open alert. Snapshots are built from it. Memory: one update per rule of every
 * module seen, one alert per open alert.
 */
export class LiveState {
  private readonly updates = new Map<string, Map<string, Known>>();
  private readonly openAlerts = new Map<string, KnownAlert>();
  /** Latest version seen per alert id, resolved ones included, so a late older version is ignored. */
  private readonly alertVersions = new Map<string, number>();

  constructor(private readonly registry: RegistryView) {}

  /** Applies an update; `shown` is its public shape (made here when the caller has none). */
  applyUpdate(update: PerformanceUpdateMs, shown: PerformanceUpdate = publicUpdate(update)): UpdateEffect {
    let goals = this.updates.get(update.moduleId);
    if (!goals) {
      goals = new Map();
      this.updates.set(update.moduleId, goals);
    }
    const key = `${update.ruleKind}:${update.goalId}`;
    const previous = goals.get(key);
    if (previous && previous.asOfMs > update.asOfMs) return { fresh: false, statusChanged: false };
    goals.set(key, { asOfMs: update.asOfMs, shown });
    const statusChanged =
      !previous || previous.shown.status !== update.status || previous.shown.stagnating !== update.stagnating;
    return { fresh: true, statusChanged };
  }

  /**
   * Records an alert version (`shown` its public shape, made here when the caller has none); false
   * when an equal or newer version of it is already known.
   */
  applyAlert(alert: AlertEventMs, shown: AlertEvent = publicAlert(alert)): boolean {
    const known = this.alertVersions.get(alert.alertId);
    if (known !== undefined && known >= alert.version) return false;
    this.alertVersions.set(alert.alertId, alert.version);
    if (alert.state === 'resolved') this.openAlerts.delete(alert.alertId);
    else this.openAlerts.set(alert.alertId, { updatedMs: alert.updatedMs, shown });
    return true;
  }

  /** The latest known version of an open alert. */
  alert(alertId: string): AlertEvent | undefined {
    return this.openAlerts.get(alertId)?.shown;
  }

  /** The domain a module belongs to, from the registry. */
  domainOf(moduleId: string): string | undefined {
    return this.registry.module(moduleId)?.domain;
  }

  /** The snapshot a channel starts with. */
  snapshot(channel: string): unknown {
    if (channel === 'scoreboard') return this.scoreboard();
    if (channel === 'alerts') return this.alerts();
    const colon = channel.indexOf(':');
    const kind = channel.slice(0, colon);
    const id = channel.slice(colon + 1);
    if (kind === 'module') return this.moduleUpdates(id);
    if (kind === 'alerts') return this.alerts(id);
    if (kind === 'domain') {
      return this.registry
        .modules()
        .filter((m) => m.domain === id)
        .flatMap((m) => this.moduleUpdates(m.id));
    }
    return [];
  }

  moduleUpdates(moduleId: string): PerformanceUpdate[] {
    return [...(this.updates.get(moduleId)?.values() ?? [])].map((k) => k.shown);
  }

  alerts(moduleId?: string): AlertEvent[] {
    const all = [...this.openAlerts.values()];
    return (moduleId === undefined ? all : all.filter((a) => a.shown.moduleId === moduleId))
      .sort((a, b) => b.updatedMs - a.updatedMs)
      .map((a) => a.shown);
  }

  scoreboard(): ScoreboardRow[] {
    const rows = new Map<string, ScoreboardRow>();
    const row = (owner: string) => {
      let r = rows.get(owner);
      if (!r) {
        r = {
          owner,
          name: this.registry.sociotechnician(owner)?.name ?? owner,
          modules: 0,
          goals: { on_track: 0, at_risk: 0, off_track: 0, no_data: 0 },
          stagnating: 0,
          openAlerts: 0,
        };
        rows.set(owner, r);
      }
      return r;
    };
    for (const module of this.registry.modules()) {
      if (module.status !== 'active') continue;
      const r = row(module.owner);
      r.modules += 1;
      const current = this.updates.get(module.id);
      for (const goal of module.goals) {
        const update = current?.get(`goal:${goal.id}`)?.shown;
        r.goals[update?.status ?? 'no_data'] += 1;
        if (update?.stagnating) r.stagnating += 1;
      }
    }
    for (const { shown } of this.openAlerts.values()) row(shown.owner).openAlerts += 1;
    return [...rows.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}
