// When the person last looked at Monitoring, per machine, so the status
// bar can count alerts they have not seen yet.
const KEY = 'tern.alertsSeenAt';

export function unseenAlerts(alerts: { time: string }[], seenAt: number): number {
  return alerts.filter((a) => Date.parse(a.time) > seenAt).length;
}

/** Records "seen now" (unless only reading) and returns the stored time. */
export function markAlertsSeen(now = true): number {
  if (typeof localStorage === 'undefined') return 0;
  if (now) localStorage.setItem(KEY, String(Date.now()));
  return Number(localStorage.getItem(KEY) ?? 0) || 0;
}
