// A small live line chart drawn as SVG by hand (no library): up to three series over the last
// `size` samples, scaled to the largest value shown. Colours come from CSS variables, so it
// follows dark mode; the latest values are written out as text for screen readers and phones.

const NS = 'http://www.w3.org/2000/svg';
const W = 300;
const H = 100;

export class LineChart {
  /**
   * @param {HTMLElement} parent
   * @param {{key: string, title: string, unit?: string, series: string[], size?: number}} opts
   */
  constructor(parent, { key, title, unit = '', series, size = 60 }) {
    this.unit = unit;
    this.names = series;
    this.size = size;
    /** @type {(number|null)[][]} */
    this.data = series.map(() => []);
    const fig = document.createElement('figure');
    fig.className = 'chart';
    fig.dataset.testid = `chart-${key}`;
    const cap = document.createElement('figcaption');
    cap.id = `chart-${key}-title`;
    cap.textContent = title;
    this.svg = document.createElementNS(NS, 'svg');
    this.svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    this.svg.setAttribute('preserveAspectRatio', 'none');
    this.svg.setAttribute('role', 'img');
    this.svg.setAttribute('aria-labelledby', cap.id);
    for (const y of [0, H / 2, H]) {
      const line = document.createElementNS(NS, 'line');
      line.setAttribute('class', 'grid');
      line.setAttribute('x1', '0');
      line.setAttribute('x2', String(W));
      line.setAttribute('y1', String(y));
      line.setAttribute('y2', String(y));
      this.svg.append(line);
    }
    this.lines = series.map((_, i) => {
      const p = document.createElementNS(NS, 'polyline');
      p.setAttribute('class', `s${i}`);
      p.dataset.testid = `chart-${key}-line-${i}`;
      this.svg.append(p);
      return p;
    });
    const axis = document.createElement('div');
    axis.className = 'axis';
    axis.setAttribute('aria-hidden', 'true');
    this.max = document.createElement('span');
    const span = document.createElement('span');
    span.textContent = `last ${size} s`;
    axis.append(this.max, span);
    const legend = document.createElement('ul');
    legend.className = 'legend';
    this.values = series.map((name, i) => {
      const li = document.createElement('li');
      li.className = `k${i}`;
      const v = document.createElement('span');
      v.className = 'v';
      v.dataset.testid = `chart-${key}-value-${i}`;
      v.textContent = '–';
      li.append(`${name}: `, v);
      legend.append(li);
      return v;
    });
    fig.append(cap, this.svg, axis, legend);
    parent.append(fig);
  }

  /** Clears the history (another node chosen). */
  reset() {
    this.data = this.names.map(() => []);
    this.draw();
  }

  /** Adds one sample per series (`null`: no value this second). */
  push(values) {
    values.forEach((v, i) => {
      const d = this.data[i];
      d.push(typeof v === 'number' && Number.isFinite(v) ? v : null);
      if (d.length > this.size) d.shift();
    });
    this.draw();
  }

  draw() {
    let top = 0;
    for (const d of this.data) for (const v of d) if (v !== null && v > top) top = v;
    const scale = top > 0 ? top * 1.1 : 1;
    this.max.textContent = `max ${fmt(top)}${this.unit}`;
    this.data.forEach((d, i) => {
      const step = W / (this.size - 1);
      const offset = this.size - d.length;
      const pts = [];
      d.forEach((v, j) => {
        if (v === null) return;
        pts.push(`${((offset + j) * step).toFixed(1)},${(H - (v / scale) * H).toFixed(1)}`);
      });
      this.lines[i].setAttribute('points', pts.join(' '));
      const last = d.length ? d[d.length - 1] : null;
      this.values[i].textContent = last === null ? '–' : `${fmt(last)}${this.unit}`;
    });
  }
}

/** A figure for people: integers as they are, others to two significant decimals. */
export function fmt(v) {
  if (Number.isInteger(v)) return String(v);
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}
