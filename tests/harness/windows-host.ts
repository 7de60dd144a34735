import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

/**
 * Runs under the Windows node.exe and starts one program with exactly the environment and command line in a
 * spec file, as the agent's process invoker does. Wine drops every Unix environment variable whose name holds
 * a `-` (so ENDPOINT_AUTH_<connection GUID> would never arrive) and builds Path itself; starting the program
 * from a Windows process sidesteps both. Its stdio is the files wine was given.
 */
interface Spec {
  file: string;
  args: string[];
  env: Record<string, string>;
  /** Pass args as the command line unquoted (a cmd.exe command line is quoted by its own rules). */
  verbatim?: boolean;
}

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as Spec;
const child = spawn(spec.file, spec.args, {
  env: spec.env,
  stdio: 'inherit',
  windowsVerbatimArguments: spec.verbatim ?? false,
});
child.on('error', (error) => {
  process.stderr.write(`windows-host: cannot start ${spec.file}: ${error.message}\n`);
  process.exitCode = 127;
});
child.on('exit', (code) => {
  process.exitCode = code ?? 1;
});
