/** Numbers and durations the way a person says them on the phone. */

export function formatCount(count: number): string {
  return String(Math.round(count)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

function unit(count: number, singular: string): string {
  return `${formatCount(count)} ${singular}${count === 1 ? "" : "s"}`;
}

/** "12 seconds", "5 minutes", "3 hours", "2 days": one unit, rounded down. */
export function formatSpan(ms: number): string {
  const seconds = Math.floor(Math.max(0, ms) / 1000);
  if (seconds < 1) return "less than a second";
  if (seconds < 60) return unit(seconds, "second");
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return unit(minutes, "minute");
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return unit(hours, "hour");
  return unit(Math.floor(hours / 24), "day");
}

export function formatAgo(ms: number): string {
  return ms < 1000 ? "just now" : `${formatSpan(ms)} ago`;
}

export function readings(count: number): string {
  return unit(count, "reading");
}
