import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULTS, type Emulator, type EmulatorConnection, type RequestLogEntry } from '../emulator';
import { REPO_ROOT, type StepResult } from '../harness/agent';
import { EmulatedJob, SUBSCRIPTION_ID, runCommand, startEmulator } from '../harness/scenario';

/** What the interop suite shares: the emulator, one task run, and the env a later step gets from it. */

export const INTEROP_BUILD_DIR = path.join(REPO_ROOT, 'build', 'tests', 'interop');
export const IDENTITY_CLIENT = path.join(INTEROP_BUILD_DIR, 'identity-client.js');
export const TERRAFORM_REFRESH = path.join(INTEROP_BUILD_DIR, 'terraform-refresh.js');
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

let shared: Promise<Emulator> | undefined;

/**
 * The emulator every interop test file shares (its keys take most of a second to generate): the default
 * scenario (one Entra-issuer and one Azure DevOps-issuer connection), with the connections' subscription the
 * one the agent's connection names, so Resource Manager's list and the exports agree. Tests that change it
 * (an identity's federated credentials, the clock) restore it before they end.
 */
export function interopEmulator(): Promise<Emulator> {
  shared ??= startEmulator({
    connections: DEFAULTS.connections.map((c) => ({
      ...c,
      subscriptionId: SUBSCRIPTION_ID,
      subscriptionName: 'Emulated subscription',
    })),
  });
  return shared;
}

// A root hook (registered when the first interop file loads this module): stop the shared emulator at the end.
if (typeof after === 'function') {
  after(async () => {
    await (await shared)?.stop();
  });
}

export function connectionOfStyle(emulator: Emulator, style: 'entra' | 'azuredevops'): EmulatorConnection {
  const found = emulator.options.connections.find((c) => c.issuerStyle === style);
  if (!found) throw new Error(`the scenario has no ${style}-issuer connection`);
  return found;
}

/**
 * The env the agent gives a later script step of the job (plain variables in, secrets only where `mapping`
 * maps them, the agent's CA trusted through NODE_EXTRA_CA_CERTS), with a HOME of its own so no client finds a
 * sign-in of the machine's user (DefaultAzureCredential would fall through to `az`).
 */
export function laterStepEnvironment(
  job: EmulatedJob,
  steps: StepResult[],
  mapping: Record<string, string> = {},
): Record<string, string> {
  const home = fs.mkdtempSync(path.join(job.job.tempDirectory, 'home-'));
  return { ...job.nextStepEnvironment(steps, mapping), HOME: home };
}

/** What `env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)` puts in a step: the job access token. */
export function withSystemAccessToken(
  emulator: Emulator,
  env: Record<string, string>,
): Record<string, string> {
  return { ...env, SYSTEM_ACCESSTOKEN: emulator.options.jobAccessToken };
}

/**
 * Runs `body` while the identity behind `connection` trusts another subject than Azure DevOps puts in its
 * idTokens (what a renamed connection, project or organization leaves behind), then restores it.
 */
export async function withMismatchedSubject<T>(
  emulator: Emulator,
  connection: EmulatorConnection,
  body: () => Promise<T>,
): Promise<T> {
  const identity = emulator.identity(connection.clientId, connection.tenantId);
  if (!identity) throw new Error(`no identity for ${connection.clientId}`);
  const saved = identity.federatedCredentials;
  identity.federatedCredentials = saved.map((f) => ({ ...f, subject: `${f.subject}-before-rename` }));
  try {
    return await body();
  } finally {
    identity.federatedCredentials = saved;
  }
}

/** The form fields of a token request, in the order the client sent them. */
export function formFields(request: RequestLogEntry): Array<[string, string]> {
  return [...new URLSearchParams(request.body)];
}

/** `METHOD path` of every request in the log: what a failed assertion may show (no query, header or body). */
export function requestLines(emulator: Emulator): string[] {
  return emulator.requests.map((r) => `${r.method} ${r.path} ${r.status}`);
}

/** The variable set by the task step (not an output variable); throws if it is not there. */
export function exported(step: StepResult, name: string): string {
  const found = step.variables.find((v) => v.name === name && !v.output);
  if (!found) throw new Error(`the task did not set ${name}`);
  return found.value;
}

export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

/** Replaces every JWT-shaped string, and the given secrets, so a failing assertion never prints a token. */
export function redact(text: string, secrets: string[] = []): string {
  let out = text.replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '[JWT]');
  for (const secret of secrets.filter((s) => s.length >= 8)) out = out.split(secret).join('[SECRET]');
  return out;
}

/** The failure text of a step, redacted, for assertion messages. */
export function describeStep(step: StepResult, secrets: string[] = []): string {
  return redact(`exit ${String(step.exitCode)}\nstdout: ${step.stdout}\nstderr: ${step.stderr}`, secrets);
}

/** The name of the offline Azure CLI cloud that points at the emulator. */
export const EMULATED_AZ_CLOUD = 'EmulatedCloud';

/**
 * Registers and selects, in `configDir` (an AZURE_CONFIG_DIR), a cloud whose Active Directory and Resource Manager
 * endpoints are the emulator's: the offline concession every az test makes (under /adfs, since MSAL Python asks
 * login.microsoftonline.com for instance discovery for any other local authority). Throws with az's output.
 */
export async function registerEmulatedAzCloud(
  az: string,
  emulator: Emulator,
  configDir: string,
  env: Record<string, string>,
): Promise<void> {
  const managementResource = 'https://management.core.windows.net/';
  const azEnv = {
    ...env,
    AZURE_CONFIG_DIR: configDir,
    REQUESTS_CA_BUNDLE: emulator.caFile,
    AZURE_CORE_COLLECT_TELEMETRY: 'false',
  };
  for (const args of [
    [
      'cloud',
      'register',
      '--name',
      EMULATED_AZ_CLOUD,
      '--endpoint-active-directory',
      `${emulator.url}/adfs`,
      '--endpoint-resource-manager',
      `${emulator.url}/`,
      '--endpoint-active-directory-resource-id',
      managementResource,
      '--endpoint-management',
      managementResource,
      '--endpoint-active-directory-graph-resource-id',
      'https://graph.windows.net/',
    ],
    ['cloud', 'set', '--name', EMULATED_AZ_CLOUD],
  ]) {
    const run = await runCommand(az, args, azEnv);
    if (run.exitCode !== 0) throw new Error(`az ${args.slice(0, 2).join(' ')} failed: ${run.stderr}`);
  }
}
