import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tl from 'azure-pipelines-task-lib/task';
import type { AcquireResult } from '../core/acquire';
import { adviceMessage, jobContextAdvice, preflightAdvice } from '../core/diagnostics';
import type { ExportedVariable } from '../core/plan';
import {
  renderRenewerRecord,
  renderSummary,
  summaryFileName,
  type RenewerRecord,
  type RenewerState,
} from '../core/summary';
import { createPrivateDirectory, isInside } from '../core/tokenfile';
import { describeError } from '../core/errors';

/** Task variable (private to this instance) naming the summary file, for the post-job step. */
export const SUMMARY_FILE_TASK_VARIABLE = 'AZUREWIF_SUMMARY_FILE';

export interface RunSummaryInputs {
  result: AcquireResult;
  /** Every variable the step set, the glue's own (AZURE_CONFIG_DIR) included. */
  variables: ExportedVariable[];
  tempDirectory: string;
  prefix: string;
  exportIdToken: boolean;
  commandName: string;
  taskName: string;
  renewer?: RenewerState;
}

/**
 * Logs the job-context advice, then writes the run summary and hands it to the agent. A summary that cannot
 * be written costs a warning, never the step.
 *
 * The file lives in its own directory, not in the token directory the post-job step removes: the agent
 * checks that the file exists when it reads the command but uploads it later, from a queue it drains every
 * second and once more at job end (microsoft/azure-pipelines-agent src/Agent.Worker/TaskCommandExtension.cs
 * TaskUploadSummaryCommand → ExecutionContext.QueueAttachFile; src/Microsoft.VisualStudio.Services.Agent/
 * JobServerQueue.cs ProcessFilesUploadQueueAsync). It cleans Agent.TempDirectory itself only after that
 * queue is drained (src/Agent.Worker/JobRunner.cs CompleteJobAsync), so the summary is removed with it.
 */
export function publishRunSummary(inputs: RunSummaryInputs): void {
  const { result } = inputs;
  const context = jobContextAdvice({
    // Set by the agent for a container job (src/Agent.Worker/ContainerOperationProvider.cs, IsJobContainer).
    containerId: tl.getVariable('Agent.ContainerId') || undefined,
    environmentName: tl.getVariable('Environment.Name') || undefined,
    strategyName: tl.getVariable('Strategy.Name') || undefined,
    exportIdToken: inputs.exportIdToken,
    prefix: inputs.prefix,
    federatedTokenFile: result.federatedTokenFile,
    commandName: inputs.commandName,
  });
  for (const advice of context) {
    if (advice.level === 'warning') tl.warning(adviceMessage(advice));
    else console.log(adviceMessage(advice));
  }
  try {
    const markdown = renderSummary({
      connection: result.connection,
      claims: result.claims,
      variables: inputs.variables,
      accessTokenExpiresOn: result.accessTokenExpiresOn,
      extraTokens: result.extraTokens,
      prefix: inputs.prefix,
      // The step's reference name: the agent sets system.taskInstanceName to the step's Task.Name, the
      // name it records output variables under (src/Agent.Worker/TaskRunner.cs, JobExtension.cs CreateChild).
      stepName: tl.getVariable('System.TaskInstanceName') || undefined,
      taskName: inputs.taskName,
      jobName: tl.getVariable('System.PhaseName') || undefined,
      stageName: tl.getVariable('System.StageName') || undefined,
      deploymentJob: Boolean(tl.getVariable('Environment.Name')),
      strategyName: tl.getVariable('Strategy.Name') || undefined,
      commandName: inputs.commandName,
      advice: [...preflightAdvice(result.claims, result.connection), ...context],
      renewer: inputs.renewer,
    });
    const file = path.join(
      createPrivateDirectory(inputs.tempDirectory, 'azure-wif-summary-'),
      summaryFileName(inputs.prefix),
    );
    fs.writeFileSync(file, markdown, { mode: 0o600 });
    tl.setTaskVariable(SUMMARY_FILE_TASK_VARIABLE, file);
    tl.uploadSummary(file);
  } catch (error) {
    tl.warning(
      `Could not write the run summary: ${describeError(error)}. The variables are set; only the summary tab is missing.`,
    );
  }
}

/**
 * Post-job: appends a record to this instance's summary and uploads it again (the agent attaches it to the
 * post-job step). Nothing happens without a record or a summary.
 */
export function appendToRunSummary(
  record: RenewerRecord | undefined,
  tempDirectory: string | undefined,
): void {
  const file = tl.getTaskVariable(SUMMARY_FILE_TASK_VARIABLE);
  if (!record || !file || !tempDirectory) return;
  // Only ever a file this task wrote under Agent.TempDirectory, whatever the task variable says.
  if (!isInside(file, tempDirectory) || !fs.existsSync(file)) return;
  fs.appendFileSync(file, renderRenewerRecord(record));
  tl.uploadSummary(file);
}
