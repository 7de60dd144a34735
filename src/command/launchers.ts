import * as path from 'node:path';
import { COMMAND_NAME } from './config';

function posixQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The POSIX shell launcher placed on PATH: the agent's own node runs the task's bundle in command mode. */
export function posixLauncher(node: string, script: string, configFile: string): string {
  return `#!/bin/sh\nexec ${posixQuote(node)} ${posixQuote(script)} ${COMMAND_NAME} --config ${posixQuote(configFile)} "$@"\n`;
}

/**
 * The Windows launcher (cmd, PowerShell and pwsh all find .cmd on PATH). cmd reads a batch file in the
 * console's code page: the agent switches each step to UTF-8 (azure-pipelines-agent
 * src/Agent.Worker/StepsRunner.cs, RunStepAsync) unless agent.retainDefaultEncoding is set, and then a
 * non-ASCII path in the file would be misread. So each path is written relative to the launcher's own folder
 * (`%~dp0`, which cmd expands from the real path): node, the task folder and Agent.TempDirectory share the
 * agent's root, and what is left is ASCII whatever the root is called. A path on another drive stays absolute.
 * `%` is doubled so cmd does not expand it.
 */
export function windowsLauncher(
  node: string,
  script: string,
  configFile: string,
  launcherDirectory: string,
): string {
  const locate = (file: string) => {
    const relative = path.win32.relative(launcherDirectory, file);
    const escaped = (path.win32.isAbsolute(relative) ? file : relative).replace(/%/g, '%%');
    return path.win32.isAbsolute(relative) ? `"${escaped}"` : `"%~dp0${escaped}"`;
  };
  return `@echo off\r\n${locate(node)} ${locate(script)} ${COMMAND_NAME} --config ${locate(configFile)} %*\r\n`;
}
