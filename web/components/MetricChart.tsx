// A small line chart of one Prometheus series, drawn with React's SVG elements: the line,
// its area, the latest value and the range. Gaps (NaN) split the line.
import type { Point } from "@/lib/prometheus";

const W = 260;
const H = 70;

function format(v: number, unit: string): string {
  if (!Number.isFinite(v)) return "–";
  const digits = Math.abs(v) >= 100 || Number.isInteger(v) ? 0 : Math.abs(v) >= 1 ? 1 : 3;
  return `${v.toFixed(digits)}${unit}`;
}

/** Consecutive runs of finite points, each a polyline's "x,y x,y ..." */
function segments(points: Point[], x: (t: number) => number, y: (v: number) => number): string[] {
  const out: string[] = [];
  let run: string[] = [];
  for (const p of points) {
    if (Number.isFinite(p.v)) run.push(`${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`);
    else if (run.length) {
      out.push(run.join(" "));
      run = [];
    }
  }
  if (run.length) out.push(run.join(" "));
  return out;
}

export function MetricChart({ id, title, unit, points }: { id: string; title: string; unit: string; points: Point[] }) {
  const finite = points.filter((p) => Number.isFinite(p.v));
  const last = finite.length ? finite[finite.length - 1].v : NaN;
  const max = Math.max(...finite.map((p) => p.v), 0);
  const t0 = points.length ? points[0].t : 0;
  const t1 = points.length ? points[points.length - 1].t : 1;
  const x = (t: number) => ((t - t0) / Math.max(t1 - t0, 1)) * W;
  const y = (v: number) => H - 4 - (max > 0 ? (v / max) * (H - 8) : 0);
  const lines = segments(points, x, y);
  return (
    <figure className="card metric" data-testid={`chart-${id}`} data-points={finite.length} data-last={last} data-peak={max}>
      <figcaption>
        <span>{title}</span>
        <strong data-testid={`chart-${id}-last`}>{format(last, unit)}</strong>
      </figcaption>
      {finite.length === 0 ? (
        <p className="muted">No data yet.</p>
      ) : (
        <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}, last 15 minutes, peak ${format(max, unit)}`}
          className="sparkline" preserveAspectRatio="none">
          {lines.map((pts, i) => (
            <polyline key={i} points={pts} />
          ))}
        </svg>
      )}
      <small className="muted">peak {format(max, unit)} · 15 min</small>
    </figure>
  );
}
