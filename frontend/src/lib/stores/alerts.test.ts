import { beforeEach, describe, expect, it, vi } from 'vitest';
import { markAlertsSeen, unseenAlerts } from './alerts.svelte';

describe('unseen alerts', () => {
  beforeEach(() => localStorage.clear());
  it('counts alerts newer than the last visit', () => {
    const t = Date.parse('2026-11-26T10:00:00Z');
    const alerts = [{ time: '2026-11-26T09:59:00Z' }, { time: '2026-11-26T10:01:00Z' }, { time: '2026-11-26T10:02:00Z' }];
    expect(unseenAlerts(alerts, t)).toBe(2);
    expect(unseenAlerts(alerts, 0)).toBe(3);
  });
  it('remembers the visit', () => {
    expect(markAlertsSeen(false)).toBe(0);
    vi.spyOn(Date, 'now').mockReturnValue(1234);
    expect(markAlertsSeen()).toBe(1234);
    expect(markAlertsSeen(false)).toBe(1234);
  });
});
