import * as tl from 'azure-pipelines-task-lib/task';
import type { AwsSettings } from '../core/aws';
import type { GcpSettings } from '../core/gcp';
import type { VaultSettings } from '../core/vault';
import { TaskFailure } from '../core/errors';
import type { OtherCloudSettings } from '../core/other-clouds';
import { quoteUntrusted } from '../core/text';

function optionalInput(name: string): string | undefined {
  const value = tl.getInput(name, false)?.trim();
  return value ? value : undefined;
}

function optionalSeconds(name: string, min: number, max: number): number | undefined {
  const raw = optionalInput(name);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TaskFailure(
      `The input '${name}' is '${quoteUntrusted(raw, 40)}', which is not a whole number of seconds from ${min} to ${max}. ` +
        'Set it to such a number, or remove it to use the default.',
    );
  }
  return value;
}

/** The environment variables AWS's own tools read for endpoints and region, as the agent gave them to the task. */
function awsEnvironment(): Record<string, string | undefined> {
  const names = [
    'AWS_ENDPOINT_URL_STS',
    'AWS_ENDPOINT_URL',
    'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
    'AWS_REGION',
    'AWS_DEFAULT_REGION',
  ];
  return Object.fromEntries(names.map((name) => [name, process.env[name]]));
}

function awsSettings(): AwsSettings | undefined {
  const roleArn = optionalInput('awsRoleArn');
  if (!roleArn) return undefined;
  const buildId = tl.getVariable('Build.BuildId');
  return {
    roleArn,
    region: optionalInput('awsRegion'),
    sessionName: optionalInput('awsSessionName'),
    durationSeconds: optionalSeconds('awsSessionDurationSeconds', 900, 43_200),
    environment: awsEnvironment(),
    defaultSessionName: buildId && /^\d+$/.test(buildId) ? `azure-pipelines-${buildId}` : 'azure-pipelines',
  };
}

function gcpSettings(): GcpSettings | undefined {
  const workloadIdentityProvider = optionalInput('gcpWorkloadIdentityProvider');
  if (!workloadIdentityProvider) return undefined;
  return {
    workloadIdentityProvider,
    serviceAccount: optionalInput('gcpServiceAccount'),
    projectId: optionalInput('gcpProjectId'),
    tokenUrl: optionalInput('gcpTokenUrl'),
    iamCredentialsUrl: optionalInput('gcpIamCredentialsUrl'),
  };
}

function vaultSettings(): VaultSettings | undefined {
  const address = optionalInput('vaultAddress');
  if (!address) return undefined;
  return {
    address,
    role: optionalInput('vaultRole'),
    authPath: optionalInput('vaultAuthPath'),
    namespace: optionalInput('vaultNamespace'),
  };
}

/** The "Other clouds" inputs; a target is configured when its main input is set. */
export function readOtherCloudSettings(): OtherCloudSettings {
  return { aws: awsSettings(), gcp: gcpSettings(), vault: vaultSettings() };
}
