export default function Badge({ status, shipped }: { status: string; shipped?: boolean }) {
  const label = shipped ? "SHIPPED" : status;
  return (
    <span className={`badge badge-${label.toLowerCase()}`} data-testid="status-badge">
      {label}
    </span>
  );
}
