import { strict as assert } from 'node:assert';
import {
  environmentName,
  expandMacros,
  interpret,
  jobVariables,
  nextStepEnvironment,
  postJobEnvironment,
  type StepResult,
} from '../harness/agent';

/**
 * The test harness plays the agent; each rule it applies comes from microsoft/azure-pipelines-agent, named on the
 * rule in tests/harness/agent.ts. These tests pin each rule, so a harness that drifts from the agent fails here.
 */
function step(stdout: string, refName = 'wif', declaredOutputs: string[] = []): StepResult {
  return { ...interpret(stdout, '', 0, 0), refName, declaredOutputs };
}

describe('the harness model of the agent', () => {
  it('sets a variable whose name task.json declares as an output only as <step>.<name>, even without isOutput', () => {
    const s = step('##vso[task.setvariable variable=tenantId;issecret=false;]t-1\n', 'wif', ['TenantId']);
    const env = nextStepEnvironment({}, [s]);
    assert.deepEqual(env, { WIF_TENANTID: 't-1' });
    assert.equal(expandMacros('$(tenantId)|$(wif.tenantId)', jobVariables([s])), '$(tenantId)|t-1');
  });

  it('sets an undeclared variable under its own name, upper-cased with . and space as _', () => {
    const s = step('##vso[task.setvariable variable=my.var name;]v\n');
    assert.deepEqual(nextStepEnvironment({}, [s]), { MY_VAR_NAME: 'v' });
    assert.equal(environmentName('a.b c'), 'A_B_C');
  });

  it('keeps the case of a variable set with preservecase (but still turns . into _)', () => {
    const s = step('##vso[task.setvariable variable=service.PrincipalId;preservecase=true;]c\n');
    assert.deepEqual(nextStepEnvironment({}, [s]), { service_PrincipalId: 'c' });
  });

  it('keeps secrets out of the environment, once secret always secret, and maps them only through env:', () => {
    const steps = [
      step('##vso[task.setvariable variable=tok;issecret=true;]s1\n'),
      step('##vso[task.setvariable variable=TOK;issecret=false;]s2\n'),
    ];
    assert.deepEqual(nextStepEnvironment({}, steps), {});
    assert.deepEqual(nextStepEnvironment({}, steps, { MAPPED: '$(Tok)' }), { MAPPED: 's2' });
  });

  it('leaves a macro of an unknown variable as written', () => {
    assert.equal(expandMacros('--tenant "$(nope)"', jobVariables([])), '--tenant "$(nope)"');
  });

  it('prepends paths for later steps, the most recent first, each once', () => {
    const steps = [
      step('##vso[task.prependpath]/a\n##vso[task.prependpath]/b\n'),
      step('##vso[task.prependpath]/a\n'),
    ];
    assert.equal(nextStepEnvironment({ PATH: '/usr/bin' }, steps).PATH, ['/a', '/b', '/usr/bin'].join(':'));
  });

  it('hands the post-job step its own task variables, public and secret, as VSTS_TASKVARIABLE_<NAME>', () => {
    const main = step(
      '##vso[task.settaskvariable variable=a.b;issecret=false;]1\n##vso[task.settaskvariable variable=c;issecret=true;]2\n',
    );
    const env = postJobEnvironment(
      { connection: { id: 'x', authParameters: {}, data: {} }, tempDirectory: '/tmp' },
      main,
    );
    assert.equal(env.VSTS_TASKVARIABLE_A_B, '1');
    assert.equal(env.VSTS_TASKVARIABLE_C, '2');
  });

  it('unescapes property and data values as the agent does (%AZP25, %0D, %0A, %5D, %3B)', () => {
    const s = step('##vso[task.setvariable variable=a%3Bb%5D;]x%AZP25y%0D%0Az\n');
    assert.deepEqual(s.variables[0], {
      name: 'a;b]',
      value: 'x%y\r\nz',
      secret: false,
      output: false,
      preserveCase: false,
    });
  });
});
