import * as fs from 'node:fs';
import * as tl from 'azure-pipelines-task-lib/task';
import { CREATED_PATHS_TASK_VARIABLE } from './agent';
import { appendToRunSummary } from './run-summary';
import { readState, stopRenewer } from '../renewer/control';
import { describeError } from '../core/errors';
import { isInside } from '../core/tokenfile';

function createdPaths(): string[] {
  const recorded = tl.getTaskVariable(CREATED_PATHS_TASK_VARIABLE);
  if (!recorded) return [];
  try {
    const parsed = JSON.parse(recorded) as unknown;
    return Array.isArray(parsed) ? parsed.filter((entry): entry is string => typeof entry === 'string') : [];
  } catch {
    return [];
  }
}

/** Post-job step: stops the token renewer, then removes the token files and directories the main step created, and says so. */
export async function cleanup(): Promise<void> {
  const tempDirectory = tl.getVariable('Agent.TempDirectory');
  const paths = createdPaths();
  if (paths.length === 0) {
    console.log('Nothing to clean up: this task created no files in this job.');
    return;
  }
  for (const entry of paths) {
    // Only ever delete inside the agent's temp directory, whatever the task variable says.
    if (!tempDirectory || !isInside(entry, tempDirectory)) {
      tl.warning(`Did not remove ${entry}: it is not inside Agent.TempDirectory.`);
      continue;
    }
    // The renewer first: it writes into the directory, and its record is the report.
    try {
      const report = await stopRenewer(entry);
      if (report) {
        console.log(report);
        // Before the removal, while the renewer's state is still there to read.
        const state = readState(entry);
        appendToRunSummary(
          {
            renewals: state?.renewals ?? 0,
            lastRenewedAt: state?.lastRenewalAt ? new Date(state.lastRenewalAt) : undefined,
            stoppedAt: new Date(),
            reason: report,
          },
          tempDirectory,
        );
      }
    } catch (error) {
      tl.warning(`Could not stop the token renewer: ${describeError(error)}`);
    }
    try {
      fs.rmSync(entry, { recursive: true, force: true });
      console.log(`Removed ${entry} and the token file in it.`);
    } catch (error) {
      tl.warning(`Could not remove ${entry}: ${describeError(error)}`);
    }
  }
}
