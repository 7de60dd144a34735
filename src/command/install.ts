import * as fs from 'node:fs';
import * as path from 'node:path';
import { ENTRY_SCRIPT } from '../entry';
import { COMMAND_NAME, type TokenCommandConfig } from './config';
import { posixLauncher, windowsLauncher } from './launchers';

/** The command's name on PATH: a prefixed instance gets its own, so two instances do not shadow each other. */
export function commandNameFor(prefix: string): string {
  const suffix = prefix.toLowerCase().replace(/_+$/, '').replace(/_/g, '-');
  return suffix ? `${COMMAND_NAME}-${suffix}` : COMMAND_NAME;
}

export interface InstalledCommand {
  name: string;
  /** The folder to put on PATH (the step prepends it through the agent). */
  binDirectory: string;
  /** token-command.json, which the renewer reads too. */
  configFile: string;
}

/**
 * Writes azure-wif-token into the work directory: launchers (POSIX shell and Windows .cmd) that run this
 * bundle with the agent's own node, in command mode, and a config file that holds no secret.
 */
export function installTokenCommand(
  workDirectory: string,
  prefix: string,
  config: TokenCommandConfig,
): InstalledCommand {
  const name = commandNameFor(prefix);
  const binDirectory = path.join(workDirectory, 'bin');
  fs.mkdirSync(binDirectory, { mode: 0o700 });
  const configFile = path.join(workDirectory, 'token-command.json');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2), { mode: 0o600 });
  fs.writeFileSync(path.join(binDirectory, name), posixLauncher(process.execPath, ENTRY_SCRIPT, configFile), {
    mode: 0o700,
  });
  fs.writeFileSync(
    path.join(binDirectory, `${name}.cmd`),
    windowsLauncher(process.execPath, ENTRY_SCRIPT, configFile, binDirectory),
    { mode: 0o600 },
  );
  return { name, binDirectory, configFile };
}
