import * as tl from 'azure-pipelines-task-lib/task';
import { TaskFailure } from '../core/errors';
import { parseResourceList, type ResourceEntry } from '../core/resources';
import { quoteUntrusted } from '../core/text';

/** The task's inputs, read and checked before any request, so a typo costs no round trip. */
export interface TaskInputs {
  connectionId: string;
  exportIdToken: boolean;
  exportTokenOutputs: boolean;
  resources: ResourceEntry[];
  azureCliLogin: boolean;
  renewTokens: boolean;
  prefix: string;
  requestTimeoutSeconds: number;
  overallTimeoutSeconds: number;
}

export const CONNECTION_INPUT = 'connectedServiceNameARM';

function booleanInput(name: string, fallback: boolean): boolean {
  const raw = tl.getInput(name, false)?.trim().toLowerCase();
  if (!raw) return fallback;
  if (raw === 'true' || raw === 'false') return raw === 'true';
  throw new TaskFailure(
    `The input '${name}' is '${quoteUntrusted(raw, 40)}', which is neither true nor false. Set it to true or false.`,
  );
}

function secondsInput(name: string, fallback: number, max: number): number {
  const raw = tl.getInput(name, false)?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new TaskFailure(
      `The input '${name}' is '${quoteUntrusted(raw, 40)}', which is not a whole number of seconds from 1 to ${max}. ` +
        `Set it to such a number, or remove it to use the default of ${fallback}.`,
    );
  }
  return value;
}

function prefixInput(name: string): string {
  const prefix = tl.getInput(name, false)?.trim() ?? '';
  if (prefix !== '' && !/^[A-Za-z][A-Za-z0-9_]*$/.test(prefix)) {
    throw new TaskFailure(
      `The input '${name}' is '${quoteUntrusted(prefix, 60)}', which cannot start a variable name. ` +
        'Use letters, digits and _ starting with a letter, for example STATE_.',
    );
  }
  return prefix;
}

export function readTaskInputs(): TaskInputs {
  const connectionId = tl.getInput(CONNECTION_INPUT, false);
  if (!connectionId) {
    throw new TaskFailure(
      `The input '${CONNECTION_INPUT}' (YAML: azureSubscription) is empty, so the task does not know which service connection to use. ` +
        'Set azureSubscription to the name of an Azure Resource Manager service connection that uses workload identity federation.',
    );
  }
  return {
    connectionId,
    exportIdToken: booleanInput('exportIdToken', true),
    exportTokenOutputs: booleanInput('exportTokenOutputs', false),
    resources: parseResourceList(tl.getInput('resources', false)),
    azureCliLogin: booleanInput('azureCliLogin', false),
    renewTokens: booleanInput('renewTokens', true),
    prefix: prefixInput('variablePrefix'),
    requestTimeoutSeconds: secondsInput('requestTimeoutSeconds', 30, 600),
    overallTimeoutSeconds: secondsInput('overallTimeoutSeconds', 120, 3600),
  };
}
