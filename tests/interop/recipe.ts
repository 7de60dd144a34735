import { environmentName, type SetVariable } from '../harness/agent';

/**
 * Checks a pipeline recipe (one YAML script step) against the variables the task really sets: every
 * `$(NAME)` macro must name a variable the task exports, a secret only as the value of an `env:` mapping
 * (secrets are not in a step's env otherwise, and a macro in the script would put the value in the script
 * text); every `$env:NAME` must be in the step's env as the agent builds it on a Linux agent, where names are
 * case-sensitive: a plain variable upper-cased, or a key of the step's `env:`.
 */

export interface Recipe {
  /** The step without its `env:` block: the script a user reads. */
  script: string;
  /** `env:` mapping: environment name → raw value (e.g. `$(idToken)`). */
  env: Record<string, string>;
}

/** The single ```yaml block of a markdown text. */
export function yamlBlock(markdown: string): string {
  const blocks = [...markdown.matchAll(/^```yaml\r?\n([\s\S]*?)^```/gm)].map((m) => m[1]);
  if (blocks.length !== 1) throw new Error(`expected one yaml block, found ${blocks.length}`);
  return blocks[0];
}

/** Splits a one-step YAML block into its script and its `env:` mapping (keys at the indentation under env:). */
export function parseRecipe(block: string): Recipe {
  const lines = block.split(/\r?\n/);
  const envLine = lines.findIndex((line) => /^\s*env:\s*$/.test(line));
  if (envLine < 0) return { script: block, env: {} };
  const envIndent = /^\s*/.exec(lines[envLine])?.[0].length ?? 0;
  const env: Record<string, string> = {};
  let end = envLine + 1;
  for (; end < lines.length; end++) {
    const m = /^(\s*)([A-Za-z_][A-Za-z0-9_]*):\s*(.*?)\s*$/.exec(lines[end]);
    if (!m || m[1].length <= envIndent) break;
    env[m[2]] = m[3];
  }
  return { script: [...lines.slice(0, envLine), ...lines.slice(end)].join('\n'), env };
}

const MACRO = /\$\(([A-Za-z_][A-Za-z0-9_.]*)\)/g;
const ENV_REFERENCE = /\$env:([A-Za-z_][A-Za-z0-9_]*)/g;

/** The exported variable a macro names (macro names are case-insensitive), if any. */
function exportedVariable(name: string, exports: SetVariable[]): SetVariable | undefined {
  return exports.find((v) => !v.output && v.name.toLowerCase() === name.toLowerCase());
}

/** What the step's `env:` maps from exported variables: env name → exported variable name. */
export function exportMapping(recipe: Recipe, exports: SetVariable[]): Record<string, string> {
  const mapping: Record<string, string> = {};
  for (const [name, value] of Object.entries(recipe.env)) {
    const m = /^\$\(([A-Za-z_][A-Za-z0-9_.]*)\)$/.exec(value);
    const variable = m ? exportedVariable(m[1], exports) : undefined;
    if (variable) mapping[name] = variable.name;
  }
  return mapping;
}

/** Every problem with the recipe's references, one line each; empty when every reference resolves. */
export function checkRecipe(recipe: Recipe, exports: SetVariable[]): string[] {
  const problems: string[] = [];
  const unresolved = (value: string) =>
    [...value.matchAll(MACRO)].map((m) => m[1]).filter((name) => !exportedVariable(name, exports));
  const stepEnvNames = new Set([
    ...exports.filter((v) => !v.output && !v.secret).map((v) => environmentName(v.name, v.preserveCase)),
    ...Object.keys(recipe.env).filter((key) => unresolved(recipe.env[key]).length === 0),
  ]);
  for (const [, name] of recipe.script.matchAll(MACRO)) {
    const variable = exportedVariable(name, exports);
    if (!variable) problems.push(`$(${name}) is not a variable the task exports`);
    else if (variable.secret)
      problems.push(`$(${name}) is a secret: map it with env: instead of using it in the script`);
  }
  for (const [key, value] of Object.entries(recipe.env)) {
    for (const name of unresolved(value))
      problems.push(`env: ${key}: $(${name}) is not a variable the task exports`);
  }
  for (const [, name] of recipe.script.matchAll(ENV_REFERENCE)) {
    if (stepEnvNames.has(name)) continue;
    const variable = exportedVariable(name, exports);
    problems.push(
      name in recipe.env
        ? `$env:${name} would hold the text "${recipe.env[name]}": the agent leaves a macro of an unknown variable as it is`
        : variable?.secret
          ? `$env:${name} is a secret the step does not map: add ${name}: $(${variable.name}) to env:`
          : variable
            ? `$env:${name} is not set on a Linux agent (the agent sets ${environmentName(variable.name, variable.preserveCase)}): map it in env: or use that name`
            : `$env:${name} is neither a variable the task exports nor mapped in env:`,
    );
  }
  return [...new Set(problems)];
}
