import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Emulator, EmulatorConnection } from '../emulator';
import { REPO_ROOT, type SetVariable, type StepResult } from '../harness/agent';
import { runInteropTask } from '../harness/interop-task';
import { EmulatedJob, SUBSCRIPTION_ID } from '../harness/scenario';
import { checkRecipe, exportMapping, parseRecipe, yamlBlock, type Recipe } from '../interop/recipe';
import { describeStep } from '../interop/support';

/** The README's PowerShell recipe, between its markers. */
function readmeRecipe(readme: string): string {
  const match = /<!-- recipe:powershell -->([\s\S]*?)<!-- \/recipe:powershell -->/.exec(readme);
  if (!match) throw new Error('README.md has no recipe:powershell block');
  return match[1];
}

/**
 * Azure PowerShell cannot be installed here, so its recipe (README.md, between the recipe:powershell markers, for the README's
 * "Azure PowerShell" section) is checked against the task's real export plan: the variables the bundled task
 * sets when run against the emulator.
 */

const RECIPE_FILE = path.join(REPO_ROOT, 'README.md');

/** The `$env:NAME` a cmdlet parameter is given in the script (line continuations joined). */
function parameterReference(recipe: Recipe, parameter: string): string {
  const script = recipe.script.replace(/`\r?\n\s*/g, ' ');
  const m = new RegExp(`-${parameter}\\s+\\$env:([A-Za-z_][A-Za-z0-9_]*)`).exec(script);
  if (!m) throw new Error(`the recipe passes no $env: variable to -${parameter}`);
  return m[1];
}

describe('the Azure PowerShell recipe uses only variables the task exports', function () {
  this.timeout(60_000);
  let emulator: Emulator;
  let connection: EmulatorConnection;
  let job: EmulatedJob;
  let task: StepResult;
  let exports: SetVariable[];
  let recipe: Recipe;

  before(async () => {
    ({ emulator, connection, job, task } = await runInteropTask());
    assert.equal(task.result?.result, 'Succeeded', describeStep(task));
    exports = task.variables.filter((v) => !v.output);
    recipe = parseRecipe(yamlBlock(readmeRecipe(fs.readFileSync(RECIPE_FILE, 'utf8'))));
  });

  it('every $env: and $() reference resolves: plain variables by the names the agent gives them, the secret idToken mapped in env:', () => {
    assert.match(recipe.script, /^- pwsh: \|/);
    assert.deepEqual(
      [...recipe.script.matchAll(/\$env:(\w+)/g)].map((m) => m[1]),
      ['tenantId', 'servicePrincipalId', 'idToken', 'AZURE_SUBSCRIPTION_ID'],
    );
    assert.deepEqual(recipe.env, { idToken: '$(idToken)' });
    assert.deepEqual(checkRecipe(recipe, exports), []);
  });

  it("gives Connect-AzAccount the connection's tenant, client id and idToken in the env the agent builds for the step", () => {
    const env = job.nextStepEnvironment([task], exportMapping(recipe, exports));
    assert.equal(env[parameterReference(recipe, 'Tenant')], connection.tenantId);
    assert.equal(env[parameterReference(recipe, 'ApplicationId')], connection.clientId);
    assert.ok(
      env[parameterReference(recipe, 'FederatedToken')] === emulator.issuedIdTokens.at(-1),
      '-FederatedToken does not get the idToken the task exported',
    );
    assert.equal(env[parameterReference(recipe, 'Subscription')], SUBSCRIPTION_ID);
    assert.match(recipe.script, /-Environment AzureCloud -Scope Process/);
    assert.equal(job.job.connection.data.environment, 'AzureCloud');
  });

  describe('and the check finds what would break on an agent (so the check above can fail)', () => {
    const variant = (edit: (text: string) => string) =>
      checkRecipe(parseRecipe(edit(yamlBlock(readmeRecipe(fs.readFileSync(RECIPE_FILE, 'utf8'))))), exports);

    it('a plain variable read in another case than the agent gives it is not set on Linux', () => {
      assert.deepEqual(
        variant((text) => text.replace('$env:AZURE_SUBSCRIPTION_ID', '$env:azure_subscription_id')),
        [
          '$env:azure_subscription_id is not set on a Linux agent (the agent sets AZURE_SUBSCRIPTION_ID): map it in env: or use that name',
        ],
      );
    });

    it('the secret idToken without its env: mapping is not in the step', () => {
      assert.deepEqual(
        variant((text) => text.replace(/^\s*idToken: \$\(idToken\)\r?\n/m, '')),
        ['$env:idToken is a secret the step does not map: add idToken: $(idToken) to env:'],
      );
    });

    it('the secret idToken as a macro in the script is refused', () => {
      assert.deepEqual(
        variant((text) => text.replace('-FederatedToken $env:idToken', '-FederatedToken "$(idToken)"')),
        ['$(idToken) is a secret: map it with env: instead of using it in the script'],
      );
    });

    it('a name the task does not export is refused', () => {
      assert.deepEqual(
        variant((text) => text.replace('$env:AZURE_SUBSCRIPTION_ID', '$env:AZURE_CLIENT_SECRET')),
        ['$env:AZURE_CLIENT_SECRET is neither a variable the task exports nor mapped in env:'],
      );
    });

    it('with exportIdToken: false the task exports no idToken, and the recipe does not check', async () => {
      const noIdToken = EmulatedJob.forConnection(emulator, connection, {
        extra: { INPUT_EXPORTIDTOKEN: 'false' },
      });
      const run = await noIdToken.runTask();
      assert.equal(run.result?.result, 'Succeeded', describeStep(run));
      assert.deepEqual(checkRecipe(recipe, run.variables), [
        'env: idToken: $(idToken) is not a variable the task exports',
        '$env:idToken would hold the text "$(idToken)": the agent leaves a macro of an unknown variable as it is',
      ]);
    });
  });
});
