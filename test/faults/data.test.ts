import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTaskLogStore } from '../../config/task-log-file';
import { expectNoLeakedWorkers, uniqueId, waitFor } from '../helpers/stack';
import { checkLedger, faultStack } from './helpers';

/**
 * The data folder a pool writes (task logs) failing. Tests run as root here, so chmod and a
 * read-only bind would not stop a write; what fails for real, and is tested: a task-log folder
 * whose path is a regular file (every write: ENOTDIR, as on an unwritable folder), and task-log
 * files that are links to /dev/full (every write: ENOSPC, a full disk). The tasks must run
 * and succeed anyway, and the pool must say why its logs are missing.
 */

jest.setTimeout(180_000);
afterAll(() => expectNoLeakedWorkers());

test('a task-log folder that cannot be created: a clear warning per task, no accepted task lost', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideway-faults-data-'));
  const notADir = join(dir, 'task-logs');
  writeFileSync(notADir, 'a file where the folder should be\n');
  const stack = await faultStack({ pools: [['demo', 'normal']], env: { TIDEWAY_TASK_LOG_DIR: notADir } });
  try {
    const ids = Array.from({ length: 10 }, (_, i) => uniqueId(`rodata${i}`));
    for (const id of ids) await stack.client.submit('demo.sleep', { ms: 200 }, { taskId: id });
    await checkLedger({ ...stack, accepted: ids });
    const log = await waitFor(
      () => {
        const text = readFileSync(stack.workerLog, 'utf8');
        return text.includes('task-log:store-failed') ? text : undefined;
      },
      10_000,
      'the store-failed warning',
    );
    expect(log).toMatch(/task-log:store-failed.*(ENOTDIR|EEXIST)/);
  } finally {
    await stack.stop();
  }
});

test('a full disk under the task logs (ENOSPC): a clear warning, no accepted task lost', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideway-faults-full-'));
  const stack = await faultStack({ pools: [['demo', 'normal']], env: { TIDEWAY_TASK_LOG_DIR: dir } });
  try {
    const ids = Array.from({ length: 10 }, (_, i) => uniqueId(`full${i}`));
    // Each task's log file is /dev/full: opening works, every write fails with ENOSPC.
    const store = new FileTaskLogStore({ dir });
    for (const id of ids) symlinkSync('/dev/full', store.fileOf(id));
    for (const id of ids) await stack.client.submit('demo.sleep', { ms: 200 }, { taskId: id });
    await checkLedger({ ...stack, accepted: ids });
    const log = readFileSync(stack.workerLog, 'utf8');
    expect(log).toMatch(/task-log:store-failed.*ENOSPC/);
  } finally {
    await stack.stop();
  }
});
