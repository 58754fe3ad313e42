// A live line chart per goal (uPlot): the goal's value over time against its target. Seeded from the
// stored history, then extended by the live feed.
import uPlot from '/vendor/uPlot.esm.js';

const maxPoints = 600;
/** The chart always shows at least this much time, so a fresh chart does not zoom into milliseconds. */
const minSpanSeconds = 180;

function clockTime(seconds, withSeconds) {
  return new Date(seconds * 1000).toLocaleTimeString('en-GB', {
    hour: '2-digit',
    minute: '2-digit',
    ...(withSeconds ? { second: '2-digit' } : {}),
  });
}

export class GoalChart {
  /**
   * @param {HTMLElement} container
   * @param {{ target: number, unit: string, label: string }} goal
   */
  constructor(container, goal) {
    this.container = container;
    this.goal = goal;
    this.times = [];
    this.values = [];
    /** Per point: what was first published, when a correction restated it since (else undefined). */
    this.revisions = [];
    this.plot = undefined;
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(container);
  }

  /** Adds a point (asOf ISO time, value); older points than the last are ignored. */
  push(asOf, value) {
    const t = Date.parse(asOf) / 1000;
    if (!Number.isFinite(t) || value === null || value === undefined) return;
    const last = this.times[this.times.length - 1];
    if (last !== undefined && t < last) return;
    if (last === t) this.values[this.values.length - 1] = value;
    else {
      this.times.push(t);
      this.values.push(value);
      this.revisions.push(undefined);
    }
    this.trim();
    this.render();
  }

  /** Adds stored history (points `{ at: ms, value }`) before the live points already shown. */
  seed(points) {
    const first = this.times[0] ?? Number.POSITIVE_INFINITY;
    const older = points
      .filter((p) => p.value !== null && Number.isFinite(p.at) && p.at / 1000 < first)
      .sort((a, b) => a.at - b.at);
    if (older.length === 0) return;
    this.times = [...older.map((p) => p.at / 1000), ...this.times];
    this.values = [...older.map((p) => p.value), ...this.values];
    this.revisions = [...older.map((p) => p.firstPublished), ...this.revisions];
    this.trim();
    this.render();
  }

  trim() {
    const excess = this.times.length - maxPoints;
    if (excess > 0) {
      this.times.splice(0, excess);
      this.values.splice(0, excess);
      this.revisions.splice(0, excess);
    }
    this.container.dataset.points = String(this.times.length);
  }

  data() {
    return [this.times, this.values];
  }

  /** The target as a dashed line across the whole plot (not only under the points), labelled. */
  drawTarget(u) {
    const y = Math.round(u.valToPos(this.goal.target, 'y', true));
    const ratio = window.devicePixelRatio || 1;
    const { ctx } = u;
    ctx.save();
    ctx.strokeStyle = '#4b5563';
    ctx.lineWidth = 1.5 * ratio;
    ctx.setLineDash([6 * ratio, 4 * ratio]);
    ctx.beginPath();
    ctx.moveTo(u.bbox.left, y);
    ctx.lineTo(u.bbox.left + u.bbox.width, y);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = '#374151';
    ctx.font = `${12 * ratio}px system-ui, sans-serif`;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'bottom';
    ctx.fillText('Target', u.bbox.left + 4 * ratio, y - 2 * ratio);
    ctx.restore();
  }

  /**
   * An "r" over each point a correction restated, as an element over the plot (readable by assistive
   * technology and tests, unlike the canvas), with the first published and the current figure on hover.
   */
  markRevised(u) {
    for (const old of u.over.querySelectorAll('.revised-mark')) old.remove();
    const unit = this.goal.unit ? ` ${this.goal.unit}` : '';
    const figure = (v) => (v === null || v === undefined ? 'no value' : `${Number(v.toPrecision(6))}${unit}`);
    this.revisions.forEach((first, i) => {
      if (!first) return;
      const mark = document.createElement('span');
      mark.className = 'revised-mark';
      mark.textContent = 'r';
      const text = `Revised: first published ${figure(first.value)} (${first.count} reports), now ${figure(this.values[i])}`;
      mark.title = text;
      mark.setAttribute('aria-label', text);
      mark.style.left = `${u.valToPos(this.times[i], 'x')}px`;
      mark.style.top = `${u.valToPos(this.values[i], 'y')}px`;
      u.over.appendChild(mark);
    });
  }

  render() {
    if (this.times.length === 0) return;
    if (this.plot) {
      this.plot.setData(this.data());
      return;
    }
    const width = Math.max(200, this.container.clientWidth);
    this.container.textContent = '';
    this.plot = new uPlot(
      {
        width,
        height: 160,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: {
            time: true,
            range: (_u, min, max) => [Math.min(min, max - minSpanSeconds), max],
          },
          // Keep the target line in view with some room around the data.
          y: {
            range: (_u, min, max) => {
              const lo = Math.min(min, this.goal.target);
              const hi = Math.max(max, this.goal.target);
              const pad = (hi - lo) * 0.15 || Math.abs(hi) * 0.1 || 1;
              return [lo - pad, hi + pad];
            },
          },
        },
        axes: [
          {
            stroke: '#4b5563',
            grid: { stroke: '#e5e7eb' },
            ticks: { stroke: '#e5e7eb' },
            space: 80,
            // Clock times only (the date is in the freshness line): "14:05", or "14:05:30" for fine ticks.
            values: (_u, splits, _axis, _space, increment) => splits.map((t) => clockTime(t, increment < 60)),
          },
          { stroke: '#4b5563', grid: { stroke: '#e5e7eb' }, ticks: { stroke: '#e5e7eb' }, size: 52 },
        ],
        series: [
          {},
          {
            label: this.goal.label,
            stroke: '#1d4ed8',
            width: 2,
            fill: 'rgba(29, 78, 216, 0.08)',
            // uPlot's default: dots only while they are sparse enough to read.
          },
        ],
        hooks: { draw: [(u) => this.drawTarget(u), (u) => this.markRevised(u)] },
      },
      this.data(),
      this.container,
    );
  }

  resize() {
    if (!this.plot) return;
    const width = Math.max(200, this.container.clientWidth);
    if (Math.abs(width - this.plot.width) > 2) this.plot.setSize({ width, height: 160 });
  }

  /** Stops watching the container's size (the view was replaced). */
  destroy() {
    this.resizeObserver.disconnect();
    this.plot?.destroy();
  }
}
