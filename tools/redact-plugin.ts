import * as fs from 'node:fs';
import type { Plugin } from 'esbuild';

/**
 * task-lib's getVariable writes every variable's value to the debug log, secret ones included (it relies
 * on the agent's masker), and it reads Agent.ProxyPassword at import. This rewrites that one debug line
 * so a secret variable's value never reaches the log. If task-lib changes the line, the build fails
 * rather than silently shipping the leak.
 */
export const SECRET_VARIABLE_DEBUG = "_debug(name + '=' + varval);";
export const REDACTED_SECRET_VARIABLE_DEBUG = "_debug(name + '=' + (info && info.secret ? '***' : varval));";

export function redactSecretVariableDebug(source: string): string {
  if (!source.includes(SECRET_VARIABLE_DEBUG)) {
    throw new Error(
      'azure-pipelines-task-lib/internal.js no longer contains the debug line that prints variable values; review the redaction in tools/redact-plugin.ts',
    );
  }
  return source.replace(SECRET_VARIABLE_DEBUG, REDACTED_SECRET_VARIABLE_DEBUG);
}

export const redactTaskLibSecrets: Plugin = {
  name: 'redact-task-lib-secret-variables',
  setup(build) {
    build.onLoad({ filter: /azure-pipelines-task-lib[\\/]internal\.js$/ }, (args) => ({
      contents: redactSecretVariableDebug(fs.readFileSync(args.path, 'utf8')),
      loader: 'js',
    }));
  },
};
