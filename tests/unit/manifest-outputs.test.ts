import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AzureConnection } from '../../src/core/connection';
import { wifConnection } from './fakes';
import { OUTPUT_NAMES, planExports, type ExportedVariable } from '../../src/core/plan';
import { REPO_ROOT } from '../../tools/repo-root';

/**
 * The agent treats a variable as an output whenever task.json declares its name in outputVariables, compared
 * case-insensitively, and then sets it only as `<step>.<name>` (azure-pipelines-agent
 * src/Agent.Worker/ExecutionContext.cs, SetVariable: `if (isOutput || OutputVariables.Contains(name))`, with
 * OutputVariables a HashSet using StringComparer.OrdinalIgnoreCase, filled in src/Agent.Worker/TaskRunner.cs).
 * A plain or secret variable that shares a declared name never reaches later steps.
 */
export function outputCollisions(declaredOutputs: string[], variables: ExportedVariable[]): string[] {
  const declared = new Map(declaredOutputs.map((name) => [name.toLowerCase(), name]));
  return variables
    .filter((v) => !v.output && declared.has(v.name.toLowerCase()))
    .map(
      (v) =>
        `${v.name} is set as a ${v.secret ? 'secret' : 'plain'} variable but task.json declares the output ${declared.get(v.name.toLowerCase())}`,
    );
}

const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'task.json'), 'utf8')) as {
  outputVariables: Array<{ name: string }>;
};
const declaredOutputs = manifest.outputVariables.map((o) => o.name);

function connectionFor(scopeLevel: string, data: Record<string, string>): AzureConnection {
  return wifConnection({
    id: '0b6a5c4d-1111-4222-8333-944445555666',
    url: 'https://management.azure.com/',
    data: { scopeLevel, ...data },
  });
}

/** Every variable the plan can set: each scope, every option on, with and without a prefix. */
function everyPlannedVariable(): ExportedVariable[] {
  const connections = [
    connectionFor('Subscription', { subscriptionId: '22222222-3333-4444-5555-666666666666' }),
    connectionFor('ManagementGroup', { managementGroupId: 'platform' }),
    connectionFor('AzureMLWorkspace', {
      subscriptionId: '22222222-3333-4444-5555-666666666666',
      resourceGroupName: 'ml',
      mlWorkspaceName: 'ml-ws',
      mlWorkspaceLocation: 'westeurope',
    }),
  ];
  return connections.flatMap((connection) =>
    ['', 'STATE_'].flatMap((prefix) =>
      planExports({
        connection,
        oidcRequestUrl: 'https://dev.azure.com/o/p/_apis/oidctoken',
        idToken: 'id',
        idTokenExpiresOn: new Date(0),
        accessToken: 'access',
        accessTokenExpiresOn: new Date(0),
        federatedTokenFile: '/tmp/t.jwt',
        exportIdToken: true,
        exportTokenOutputs: true,
        extraTokens: [{ name: 'GRAPH', token: 'g', expiresOn: new Date(0) }],
        prefix,
      }),
    ),
  );
}

describe('task.json output variables', () => {
  it('share no name, in any case, with a plain or secret variable the task sets', () => {
    assert.deepEqual(outputCollisions(declaredOutputs, everyPlannedVariable()), []);
  });

  it('are exactly the outputs the task can set', () => {
    const planned = new Set(
      everyPlannedVariable()
        .filter((v) => v.output)
        .map((v) => v.name),
    );
    assert.deepEqual([...planned].sort(), [...declaredOutputs].sort());
    assert.deepEqual(Object.values(OUTPUT_NAMES).sort(), [...declaredOutputs].sort());
  });

  it('keep the AzureCLI@2 names servicePrincipalId, tenantId and idToken as plain and secret variables', () => {
    const plain = everyPlannedVariable().filter((v) => !v.output);
    for (const [name, secret] of [
      ['servicePrincipalId', false],
      ['tenantId', false],
      ['idToken', true],
    ] as const) {
      assert.ok(
        plain.some((v) => v.name === name && v.secret === secret),
        `${name} is set as a ${secret ? 'secret' : 'plain'} variable`,
      );
    }
  });

  it('a collision check that finds a declared output shadowing a plain variable, whatever its case', () => {
    const planted = [...declaredOutputs, 'TENANTID'];
    assert.deepEqual(outputCollisions(planted, everyPlannedVariable()).slice(0, 1), [
      'tenantId is set as a plain variable but task.json declares the output TENANTID',
    ]);
  });
});
