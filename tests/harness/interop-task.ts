import type { Emulator, EmulatorConnection } from '../emulator';
import { connectionOfStyle, interopEmulator } from '../interop/support';
import type { StepResult } from './agent';
import { EmulatedJob } from './scenario';

/** What each interop suite starts from: the shared interop emulator, its Entra-issuer connection, one task run. */
export interface InteropTaskRun {
  emulator: Emulator;
  connection: EmulatorConnection;
  job: EmulatedJob;
  task: StepResult;
}

/** Runs the bundled task once with the Entra-issuer connection on the shared interop emulator. */
export async function runInteropTask(): Promise<InteropTaskRun> {
  const emulator = await interopEmulator();
  const connection = connectionOfStyle(emulator, 'entra');
  const job = EmulatedJob.forConnection(emulator, connection);
  const task = await job.runTask();
  return { emulator, connection, job, task };
}
