import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tl from 'azure-pipelines-task-lib/task';
import { COMMAND_NAME, posixLauncher, windowsLauncher, type TokenCommandConfig } from './core/command-config';

/** The command's name on PATH: a prefixed instance gets its own, so two instances do not shadow each other. */
export function commandNameFor(prefix: string): string {
  const suffix = prefix.toLowerCase().replace(/_+$/, '').replace(/_/g, '-');
  return suffix ? `${COMMAND_NAME}-${suffix}` : COMMAND_NAME;
}

/**
 * Puts azure-wif-token on PATH for the rest of the job: launchers (POSIX shell and Windows .cmd) that run
 * this bundle with the agent's own node, in command mode, with a config file that holds no secret.
 */
/** Returns the config file, which the renewer reads too. */
export function installTokenCommand(
  workDirectory: string,
  prefix: string,
  config: TokenCommandConfig,
): string {
  const name = commandNameFor(prefix);
  const bin = path.join(workDirectory, 'bin');
  fs.mkdirSync(bin, { mode: 0o700 });
  const configFile = path.join(workDirectory, 'token-command.json');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2), { mode: 0o600 });
  const script = path.join(__dirname, 'main.js');
  fs.writeFileSync(path.join(bin, name), posixLauncher(process.execPath, script, configFile), {
    mode: 0o700,
  });
  fs.writeFileSync(
    path.join(bin, `${name}.cmd`),
    windowsLauncher(process.execPath, script, configFile, bin),
    {
      mode: 0o600,
    },
  );
  tl.prependPath(bin);
  console.log(
    `Later steps can run ${name} for a fresh idToken or access token (it needs SYSTEM_ACCESSTOKEN mapped).`,
  );
  return configFile;
}
