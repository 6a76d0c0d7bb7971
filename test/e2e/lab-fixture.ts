/** What every e2e test does first: a lab in a throwaway directory, stopped and removed after the test. */
import type { TestContext } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type LabRouterKind, type RunningLab } from '../../lab/run.js';
import { silentLogger } from '../../src/observability/logger.js';

export async function labForTest(t: TestContext, tag: string, opts: { router?: LabRouterKind } = {}): Promise<{ l: RunningLab; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), `bgpvs-e2e-${tag}-`));
  const l = await startLab({ dir: join(dir, 'cluster'), logger: silentLogger(), ...(opts.router ? { router: opts.router } : {}) }).catch((err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  t.after(async () => {
    await l.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { l, dir };
}
