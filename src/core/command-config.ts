import type { AzureConnection } from './connection';
import type { OidcEndpoint } from './idtoken';
import type { IProxyConfiguration } from 'typed-rest-client/Interfaces';
import type { VaultTarget } from './vault';

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

function posixQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The POSIX shell launcher placed on PATH: the agent's own node runs the task's bundle in command mode. */
export function posixLauncher(node: string, script: string, configFile: string): string {
  return `#!/bin/sh\nexec ${posixQuote(node)} ${posixQuote(script)} ${COMMAND_NAME} --config ${posixQuote(configFile)} "$@"\n`;
}

/** The Windows launcher (cmd, PowerShell and pwsh all find .cmd on PATH). */
export function windowsLauncher(node: string, script: string, configFile: string): string {
  const quote = (value: string) => `"${value.replace(/"/g, '""')}"`;
  return `@echo off\r\n${quote(node)} ${quote(script)} ${COMMAND_NAME} --config ${quote(configFile)} %*\r\n`;
}
