import type { LiveState } from "@/lib/live";

export default function LiveIndicator({ state }: { state: LiveState }) {
  const text = state === "live" ? "Live" : state === "connecting" ? "Connecting…" : "Reconnecting… (polling)";
  return (
    <span className={`live live-${state}`} role="status" aria-live="polite" data-testid="live-indicator">
      <span className="dot" aria-hidden="true" /> {text}
    </span>
  );
}
