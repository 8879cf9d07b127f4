import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Job, LogEvent, MetricsEvent } from '../api/training';

// The training api, with its event subscriptions captured so the test can
// play the backend.
const handlers: { job?: (j: Job) => void; metrics?: (m: MetricsEvent) => void; log?: (l: LogEvent) => void } = {};
vi.mock('../api/training', async (orig) => ({
  ...(await orig<typeof import('../api/training')>()),
  jobs: vi.fn(async () => [job('a', 'running')]),
  job: vi.fn(async (id: string) => job(id, 'running')),
  logs: vi.fn(async () => ['fetched']),
  onJob: (cb: (j: Job) => void) => ((handlers.job = cb), () => {}),
  onMetrics: (cb: (m: MetricsEvent) => void) => ((handlers.metrics = cb), () => {}),
  onLog: (cb: (l: LogEvent) => void) => ((handlers.log = cb), () => {}),
}));

const job = (id: string, state: Job['state']) => ({ id, state }) as Job;
const { jobs, liveOf, runningCount, startJobs, watchJob, jobById } = await import('./jobs.svelte');

describe('jobs store', () => {
  beforeEach(async () => {
    startJobs();
    await vi.waitFor(() => expect(jobs.list).not.toBeNull());
  });

  it('keeps the list current from one subscription', () => {
    expect(runningCount()).toBe(1);
    handlers.job!(job('b', 'queued'));
    handlers.job!(job('a', 'succeeded'));
    expect(jobs.list!.map((j) => [j.id, j.state])).toEqual([
      ['b', 'queued'],
      ['a', 'succeeded'],
    ]);
    expect(runningCount()).toBe(1);
  });

  it('gathers a job’s curve and log tail before any page asks', () => {
    handlers.metrics!({ jobId: 'c', runId: 'r', points: [{ key: 'train_loss', value: 1, step: 1 }] });
    handlers.metrics!({ jobId: 'c', runId: 'r', points: [{ key: 'train_loss', value: 0.5, step: 2 }] });
    handlers.log!({ jobId: 'c', lines: Array.from({ length: 250 }, (_, i) => `line ${i}`) });
    expect(liveOf('c').series.train_loss.map((p) => p.value)).toEqual([1, 0.5]);
    expect(liveOf('c').lines).toHaveLength(200);
    expect(liveOf('c').lines.at(-1)).toBe('line 249');
    expect(liveOf('nobody')).toEqual({ series: {}, lines: [] });
  });

  it('a page opened late loads the job, never undoing a final state', async () => {
    handlers.job!(job('d', 'failed'));
    await watchJob('d');
    expect(jobById('d')!.state).toBe('failed');
    expect(liveOf('d').lines).toEqual(['fetched']);
  });
});
