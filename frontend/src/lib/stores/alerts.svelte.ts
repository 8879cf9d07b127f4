// Alerts, subscribed once for the whole app: the status bar counts the ones
// not seen yet, Monitoring lists them. A new drift report only bumps
// `reports`, so the views that show reports know to reload.
import { listAlerts, onAlert, onReport, type Alert } from '../api/monitoring';
import { route } from '../router.svelte';

// When the person last looked at Monitoring, per machine.
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

const KEEP = 50;

export const alerts = $state({
  /** Newest first; null when this build or backend has no monitoring. */
  list: null as Alert[] | null,
  seenAt: 0,
  /** Counts drift reports written since the app started. */
  reports: 0,
});

/** Alerts newer than the last visit to Monitoring. */
export const unseen = (): number => (alerts.list ? unseenAlerts(alerts.list, alerts.seenAt) : 0);

export function markSeen() {
  alerts.seenAt = markAlertsSeen();
}

export async function reloadAlerts() {
  try {
    alerts.list = (await listAlerts(KEEP)) ?? [];
  } catch {
    alerts.list = null;
  }
}

function notify(a: Alert) {
  // A desktop notification when the person allowed them; the in-app list always shows it.
  if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
  new Notification(`Tern: ${a.rule}`, { body: a.message });
}

export function startAlerts(): () => void {
  alerts.seenAt = markAlertsSeen(false);
  reloadAlerts();
  const offA = onAlert((a) => {
    alerts.list = [a, ...(alerts.list ?? []).filter((x) => x.id !== a.id)].slice(0, KEEP);
    if (route.area === 'monitoring') {
      markSeen();
      notify(a);
    }
  });
  const offR = onReport(() => alerts.reports++);
  return () => {
    offA();
    offR();
  };
}
