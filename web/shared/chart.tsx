/** A hand-made SVG line chart: a few hundred bytes instead of a charting library. */
export function LineChart(props: {
  title: string;
  points: { label: string; value: number }[];
  height?: number;
}) {
  const width = 320;
  const height = props.height ?? 120;
  const pad = 4;
  const values = props.points.map((point) => point.value);
  const max = Math.max(1, ...values);
  const min = Math.min(0, ...values);
  const step = props.points.length > 1 ? (width - 2 * pad) / (props.points.length - 1) : 0;
  const y = (value: number) => height - pad - ((value - min) / (max - min)) * (height - 2 * pad);
  const path = props.points
    .map((point, index) => `${index === 0 ? "M" : "L"}${pad + index * step},${y(point.value)}`)
    .join(" ");
  const first = props.points[0];
  const last = props.points[props.points.length - 1];
  return (
    <figure className="chart">
      <figcaption>{props.title}</figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={props.title}>
        <line x1={pad} x2={width - pad} y1={y(0)} y2={y(0)} className="axis" />
        {props.points.length > 0 && <path d={path} className="line" />}
      </svg>
      {first && last && (
        <div className="chart-range">
          <span>{first.label}</span>
          <span>{last.label}</span>
        </div>
      )}
    </figure>
  );
}
