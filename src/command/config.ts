import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  currentWindowsUser,
  othersWithAccess,
  parseIcacls,
  posixOwnerOnlyProblem,
  runProgram,
  systemProgram,
  type RunProgram,
} from '../core/acl';
import { FEDERATED_TOKEN_FILE_NAME } from '../core/acquire';
import { GUID, SCOPE_LEVELS, type AzureConnection, type Cloud, type ScopeLevel } from '../core/connection';
import { ConfigProblem, describeError, TaskFailure } from '../core/errors';
import type { OidcEndpoint } from '../core/idtoken';
import { createTransport, type IProxyConfiguration } from '../core/http';
import type { Logger } from '../core/logger';
import { DEFAULT_RETRY_POLICY } from '../core/retry';
import type { ServiceDependencies } from '../core/services';
import { parseUrl } from '../core/text';
import type { VaultTarget } from '../core/vault';

/**
 * What the on-demand command (azure-wif-token) needs to fetch fresh tokens in a later step. It holds no
 * secret: the job access token comes from the step's own environment, and only when the author maps it.
 */
export interface TokenCommandConfig {
  version: 1;
  /** The connection as the task resolved it (cloud included: Azure Stack Hub's came from its metadata). */
  connection: AzureConnection;
  oidcEndpoint: OidcEndpoint;
  federatedTokenFile: string;
  caFile?: string;
  /** The agent proxy, without its password (a step that needs one maps Agent.ProxyPassword). */
  proxy?: Omit<IProxyConfiguration, 'proxyPassword'>;
  requestTimeoutMs: number;
  deadlineMs: number;
  /** The Vault the task logged in to, for `vault-login`. */
  vault?: VaultTarget;
}

export const COMMAND_NAME = 'azure-wif-token';

type Json = Record<string, unknown>;

function object(value: unknown, field: string): Json {
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new ConfigProblem(`${field} is not an object`);
  return value as Json;
}

function text(record: Json, key: string, field: string, check?: (value: string) => boolean): string {
  const value = record[key];
  if (typeof value !== 'string' || value === '' || (check && !check(value))) {
    throw new ConfigProblem(`${field}.${key} is not ${check ? 'a valid value' : 'a string'}`);
  }
  return value;
}

/** An optional field; empty counts as absent, as the agent leaves some settings empty rather than unset. */
function optionalText(record: Json, key: string, field: string): string | undefined {
  return record[key] === undefined || record[key] === '' ? undefined : text(record, key, field);
}

/** The optional fields among `keys` that `record` holds, each checked as optionalText does. */
function optionalTexts<K extends string>(
  record: Json,
  keys: readonly K[],
  field: string,
): Partial<Record<K, string>> {
  const found: Partial<Record<K, string>> = {};
  for (const key of keys) {
    const value = optionalText(record, key, field);
    if (value !== undefined) found[key] = value;
  }
  return found;
}

function positiveInteger(record: Json, key: string): number {
  const value = record[key];
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ConfigProblem(`config.${key} is not a positive whole number`);
  }
  return value;
}

const isGuid = (value: string) => GUID.test(value);
const isUrlWith = (protocols: string[]) => (value: string) =>
  protocols.includes(parseUrl(value)?.protocol ?? '');
const isHttpsUrl = isUrlWith(['https:']);
// A Vault on a private network may be plain http (vault.ts, resolveVaultTarget).
const isHttpUrl = isUrlWith(['https:', 'http:']);

function parseCloud(value: unknown): Cloud {
  const record = object(value, 'connection.cloud');
  const field = 'connection.cloud';
  return {
    name: text(record, 'name', field),
    authorityHost: text(record, 'authorityHost', field, isHttpsUrl),
    resourceManager: text(record, 'resourceManager', field),
    ...optionalTexts(
      record,
      ['terraformEnvironment', 'graph', 'keyVault', 'storage', 'devops', 'metadataUrl'] as const,
      field,
    ),
  };
}

function parseAzureConnection(value: unknown): AzureConnection {
  const record = object(value, 'connection');
  const field = 'connection';
  const scopeLevel = text(record, 'scopeLevel', field, (level) => SCOPE_LEVELS.includes(level as ScopeLevel));
  return {
    id: text(record, 'id', field),
    clientId: text(record, 'clientId', field, isGuid),
    tenantId: text(record, 'tenantId', field, isGuid),
    scopeLevel: scopeLevel as ScopeLevel,
    cloud: parseCloud(record.cloud),
    ...optionalTexts(
      record,
      [
        'subscriptionId',
        'subscriptionName',
        'managementGroupId',
        'resourceGroupName',
        'mlWorkspaceName',
        'mlWorkspaceLocation',
        'resourceManagerUrl',
        'expectedIssuer',
        'expectedSubject',
      ] as const,
      field,
    ),
  };
}

function parseOidcEndpoint(value: unknown): OidcEndpoint {
  const record = object(value, 'oidcEndpoint');
  const body = record.body;
  if (typeof body !== 'string') throw new ConfigProblem('oidcEndpoint.body is not a string');
  return {
    // Where it may go is checked against System.CollectionUri before any request (job-token-origin.ts).
    baseUrl: text(record, 'baseUrl', 'oidcEndpoint'),
    apiVersion: text(record, 'apiVersion', 'oidcEndpoint'),
    body,
  };
}

function parseProxy(value: unknown): TokenCommandConfig['proxy'] {
  if (value === undefined) return undefined;
  const record = object(value, 'proxy');
  const bypass = record.proxyBypassHosts;
  if (bypass !== undefined && !(Array.isArray(bypass) && bypass.every((host) => typeof host === 'string'))) {
    throw new ConfigProblem('proxy.proxyBypassHosts is not a list of strings');
  }
  if ('proxyPassword' in record)
    throw new ConfigProblem('proxy holds a password, which the task never writes');
  return {
    proxyUrl: text(record, 'proxyUrl', 'proxy'),
    proxyUsername: optionalText(record, 'proxyUsername', 'proxy'),
    proxyBypassHosts: bypass as string[] | undefined,
  };
}

function parseVault(value: unknown): VaultTarget | undefined {
  if (value === undefined) return undefined;
  const record = object(value, 'vault');
  return {
    address: text(record, 'address', 'vault', isHttpUrl),
    role: text(record, 'role', 'vault'),
    authPath: text(record, 'authPath', 'vault'),
    namespace: optionalText(record, 'namespace', 'vault'),
  };
}

/**
 * Reads token-command.json as the task wrote it, field by field: the command and the renewer act on what
 * they read (where the job access token goes, which file they overwrite), so nothing is taken on trust from
 * a cast. The token file must be the task's own, beside the configuration in its private directory.
 */
export function parseTokenCommandConfig(
  json: string,
  configFile: string,
  paths: path.PlatformPath = path,
): TokenCommandConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new ConfigProblem('it is not JSON');
  }
  const record = object(parsed, 'config');
  if (record.version !== 1) throw new ConfigProblem('its version is not 1');
  const federatedTokenFile = text(record, 'federatedTokenFile', 'config');
  // path.relative compares as the platform does: case-insensitively on Windows.
  if (paths.relative(paths.dirname(configFile), federatedTokenFile) !== FEDERATED_TOKEN_FILE_NAME) {
    throw new ConfigProblem(
      `config.federatedTokenFile is not the task's ${FEDERATED_TOKEN_FILE_NAME} beside the configuration`,
    );
  }
  return {
    version: 1,
    connection: parseAzureConnection(record.connection),
    oidcEndpoint: parseOidcEndpoint(record.oidcEndpoint),
    federatedTokenFile,
    caFile: optionalText(record, 'caFile', 'config'),
    proxy: parseProxy(record.proxy),
    requestTimeoutMs: positiveInteger(record, 'requestTimeoutMs'),
    deadlineMs: positiveInteger(record, 'deadlineMs'),
    vault: parseVault(record.vault),
  };
}

export function commandConfig(
  connection: AzureConnection,
  oidcEndpoint: OidcEndpoint,
  federatedTokenFile: string,
  network: Pick<TokenCommandConfig, 'caFile' | 'proxy' | 'requestTimeoutMs' | 'deadlineMs'>,
): TokenCommandConfig {
  return {
    version: 1,
    connection,
    oidcEndpoint,
    federatedTokenFile,
    ...network,
  };
}

/** The agent proxy the configuration names, with the password its reader was handed (never in the file). */
export function configuredProxy(
  config: TokenCommandConfig,
  proxyPassword: string | undefined,
): IProxyConfiguration | undefined {
  return config.proxy ? { ...config.proxy, proxyPassword } : undefined;
}

/** Who reads the configuration: how it names itself to the services, and where its output goes. */
export interface ConfigReader {
  userAgent: string;
  proxyPassword: string | undefined;
  logger: Logger;
  registerSecret: (secret: string) => void;
}

/**
 * The transport and retry policy the configuration describes (the step's proxy, CA, request timeout and
 * deadline), the same for the command and the renewer.
 */
export function configuredServices(config: TokenCommandConfig, reader: ConfigReader): ServiceDependencies {
  return {
    transport: createTransport({
      userAgent: reader.userAgent,
      proxy: configuredProxy(config, reader.proxyPassword),
      cert: config.caFile ? { caFile: config.caFile } : undefined,
      timeoutMs: config.requestTimeoutMs,
    }),
    logger: reader.logger,
    registerSecret: reader.registerSecret,
    retryPolicy: { ...DEFAULT_RETRY_POLICY, deadlineMs: config.deadlineMs },
  };
}

export interface OwnerCheckOptions {
  platform?: NodeJS.Platform;
  run?: RunProgram;
  env?: NodeJS.ProcessEnv;
  uid?: number;
}

/**
 * The configuration says where the job access token goes, so a copy anyone else could have changed is
 * refused: on POSIX it must be this user's with no group/other bits; on Windows its ACL may name only this
 * user, SYSTEM and Administrators (the task's directory ACL gives exactly that).
 */
export function checkConfigOwnerOnly(file: string, options: OwnerCheckOptions = {}): void {
  const platform = options.platform ?? process.platform;
  let problem: string | undefined;
  let fix: string;
  if (platform === 'win32') {
    const run = options.run ?? runProgram;
    const env = options.env ?? process.env;
    const owner = currentWindowsUser(run, env);
    const result = run(systemProgram('icacls.exe', env), [file]);
    const others = result.status === 0 ? othersWithAccess(parseIcacls(result.stdout, file), owner) : [];
    if (result.status !== 0) problem = `icacls could not read its permissions (exit code ${result.status})`;
    else if (others.length > 0) problem = `${others.join(', ')} can access it besides ${owner.name}`;
    fix = `icacls "${file}" /inheritance:r /grant:r "*${owner.sid}:F"`;
  } else {
    const stat = fs.statSync(file);
    problem = posixOwnerOnlyProblem(stat, options.uid ?? process.getuid?.() ?? stat.uid);
    fix = `chmod 600 '${file}'`;
  }
  if (problem) {
    throw new TaskFailure(
      `${COMMAND_NAME}: refuses its configuration ${file} because ${problem}, and a changed configuration could send the job access token elsewhere. ` +
        `Re-run the AzureWorkloadIdentity task, which writes it owner-only, or, if you made it so, restrict it again: ${fix}`,
    );
  }
}

/**
 * The command's configuration, read only when it is owner-only (it says where the job access token goes) and
 * then field by field.
 */
export function readTokenCommandConfig(file: string): TokenCommandConfig {
  let json: string;
  try {
    fs.statSync(file);
  } catch {
    throw new TaskFailure(
      `${COMMAND_NAME}: cannot read its configuration ${file}. ` +
        'Run it in a later step of the same job as the AzureWorkloadIdentity task, before the job ends.',
    );
  }
  checkConfigOwnerOnly(file);
  try {
    json = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new TaskFailure(
      `${COMMAND_NAME}: cannot read its configuration ${file} (${describeError(error)}). ` +
        'Run it in a later step of the same job as the AzureWorkloadIdentity task, before the job ends.',
    );
  }
  try {
    return parseTokenCommandConfig(json, file);
  } catch (error) {
    if (!(error instanceof ConfigProblem)) throw error;
    throw new TaskFailure(
      `${COMMAND_NAME}: refuses its configuration ${file} because ${error.message}, so it is not what the task wrote. ` +
        'Re-run the AzureWorkloadIdentity task earlier in this job, and do not edit the file it writes.',
    );
  }
}
