// A live line chart per goal (uPlot): the goal's value over time against its target.
import uPlot from '/vendor/uPlot.esm.js';

const maxPoints = 600;

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
    }
    if (this.times.length > maxPoints) {
      this.times.shift();
      this.values.shift();
    }
    this.render();
  }

  data() {
    return [this.times, this.values, this.times.map(() => this.goal.target)];
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
          x: { time: true },
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
          { stroke: '#4b5563', grid: { stroke: '#e5e7eb' }, ticks: { stroke: '#e5e7eb' } },
          { stroke: '#4b5563', grid: { stroke: '#e5e7eb' }, ticks: { stroke: '#e5e7eb' }, size: 48 },
        ],
        series: [
          {},
          {
            label: this.goal.label,
            stroke: '#1d4ed8',
            width: 2,
            fill: 'rgba(29, 78, 216, 0.08)',
            points: { show: this.times.length < 30 },
          },
          { label: 'Target', stroke: '#6b7280', width: 1.5, dash: [6, 4], points: { show: false } },
        ],
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
}
