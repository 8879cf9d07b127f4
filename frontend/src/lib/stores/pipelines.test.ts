import { describe, expect, it, vi } from 'vitest';
import type { Run, StepRecord } from '../api/pipelines';

// The pipelines api with its event subscriptions captured, so the test
// plays the backend's events against reads that answer late.
const handlers: { run?: (r: Run) => void; step?: (s: StepRecord) => void } = {};
vi.mock('../api/pipelines', async (orig) => ({
  ...(await orig<typeof import('../api/pipelines')>()),
  list: vi.fn(async () => []),
  runs: vi.fn(async () => []),
  onChanged: () => () => {},
  onNotify: () => () => {},
  onRun: (cb: (r: Run) => void) => ((handlers.run = cb), () => {}),
  onStep: (cb: (s: StepRecord) => void) => ((handlers.step = cb), () => {}),
}));

const rec = (step: string, state: StepRecord['state'], runId = 'r1') => ({ runId, step, state, attempts: 1 }) as StepRecord;
const run = (id: string, state: Run['state']) => ({ id, state }) as Run;
const { pipelines, putRun, putSteps, readMark, startPipelines } = await import('./pipelines.svelte');

describe('pipelines store', () => {
  it('a read that left before an event does not overwrite what the event said', () => {
    startPipelines();
    const since = readMark();
    // While the read is on its way, the step ends and the run moves on.
    handlers.step!(rec('validate', 'succeeded'));
    handlers.run!(run('r1', 'waiting'));
    // The read answers with what was stored when it was served.
    putSteps([rec('validate', 'running'), rec('train', 'pending')], since);
    putRun(run('r1', 'running'), since);
    expect(pipelines.steps.r1.validate.state).toBe('succeeded');
    expect(pipelines.steps.r1.train.state).toBe('pending');
    expect(pipelines.runs.r1.state).toBe('waiting');
  });

  it('a read started after the events is taken whole', () => {
    handlers.step!(rec('gate', 'waiting', 'r2'));
    const since = readMark();
    putSteps([rec('gate', 'succeeded', 'r2')], since);
    expect(pipelines.steps.r2.gate.state).toBe('succeeded');
    // Events always win: they arrive in the order the engine saved them.
    handlers.step!(rec('gate', 'failed', 'r2'));
    expect(pipelines.steps.r2.gate.state).toBe('failed');
  });
});
