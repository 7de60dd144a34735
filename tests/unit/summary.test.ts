import { strict as assert } from 'node:assert';
import { name as taskName } from '../../task.json';
import { parseConnection, type AzureConnection } from '../../src/core/connection';
import { jobContextAdvice, preflightAdvice, preflightWarnings } from '../../src/core/diagnostics';
import type { IdTokenClaims } from '../../src/core/jwt';
import { planExports } from '../../src/core/plan';
import {
  code,
  renderRenewerRecord,
  renderSummary,
  summaryFileName,
  summaryTitle,
  type SummaryInputs,
} from '../../src/core/summary';
import { plainCell, sections, tableUnder } from '../harness/markdown';

const CLIENT = '11111111-2222-3333-4444-555555555555';
const TENANT = '66666666-7777-8888-9999-000000000000';
const ID_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJlLWlkLXRva2Vu';
const ACCESS_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhcm0ifQ.c2lnbmF0dXJlLWFjY2Vzcw';
const GRAPH_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJncmFwaCJ9.c2lnbmF0dXJlLWdyYXBo';

function connectionWith(data: Record<string, string>, auth: Record<string, string> = {}): AzureConnection {
  return parseConnection({
    id: '0f0e0d0c-0000-4000-8000-0000000000cc',
    scheme: 'WorkloadIdentityFederation',
    authParameters: { serviceprincipalid: CLIENT, tenantid: TENANT, ...auth },
    data,
  });
}

const entraClaims: IdTokenClaims = {
  iss: `https://login.microsoftonline.com/${TENANT}/v2.0`,
  sub: '/eid1/c/pub/t/abc/a/def/sc/org/0f0e0d0c-0000-4000-8000-0000000000cc',
  aud: ['api://AzureADTokenExchange'],
  exp: Date.parse('2026-12-06T03:10:00Z') / 1000,
  iat: Date.parse('2026-12-06T03:00:00Z') / 1000,
};
const devopsClaims: IdTokenClaims = {
  ...entraClaims,
  iss: 'https://vstoken.dev.azure.com/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee',
  sub: 'sc://contoso/web/prod-connection',
};

function inputs(overrides: Partial<SummaryInputs> & { exportIdToken?: boolean } = {}): SummaryInputs {
  const connection =
    overrides.connection ??
    connectionWith({ subscriptionId: 'a1b2c3d4-0000-4000-8000-00000000cafe', subscriptionName: 'Prod' });
  const prefix = overrides.prefix ?? '';
  const extraTokens = [
    { name: 'GRAPH', resource: 'https://graph.microsoft.com', expiresOn: new Date('2026-12-06T04:01:00Z') },
  ];
  return {
    connection,
    claims: entraClaims,
    variables: planExports({
      connection,
      oidcRequestUrl: 'https://dev.azure.com/o/p/_apis/distributedtask/hubs/build/plans/x/jobs/y/oidctoken',
      idToken: ID_TOKEN,
      idTokenExpiresOn: new Date(entraClaims.exp * 1000),
      accessToken: ACCESS_TOKEN,
      accessTokenExpiresOn: new Date('2026-12-06T04:00:00Z'),
      federatedTokenFile: '/agent/_temp/azure-wif-abc/federated-token.jwt',
      exportIdToken: overrides.exportIdToken ?? true,
      extraTokens: extraTokens.map((t) => ({ ...t, token: GRAPH_TOKEN })),
      prefix,
      exportTokenOutputs: true,
    }),
    accessTokenExpiresOn: new Date('2026-12-06T04:00:00Z'),
    extraTokens,
    prefix,
    stepName: 'azureLogin',
    taskName,
    jobName: 'Deploy',
    stageName: 'Prod',
    deploymentJob: false,
    commandName: 'azure-wif-token',
    advice: [],
    ...overrides,
  };
}

const OUTPUT_COLUMN = 'In a later job (`variables:` of a job that `dependsOn` this one)';

describe('run summary', () => {
  it('lists every plain variable the plan sets, with its value and no secret', () => {
    const summary = inputs();
    const rows = tableUnder(renderSummary(summary), 'Variables for later steps of this job');
    assert.deepEqual(
      rows.map((row) => [plainCell(row.Variable), plainCell(row.Value)]),
      summary.variables.filter((v) => !v.secret && !v.output).map((v) => [v.name, v.value]),
    );
    assert.equal(
      rows.find((row) => row.Variable === '`ARM_CLIENT_ID`')?.['Read by'],
      'Terraform (azurerm, azuread, azapi, azurerm backend)',
    );
  });

  it('gives each secret variable the exact env: line that maps it', () => {
    const summary = inputs();
    const rows = tableUnder(renderSummary(summary), 'Secret variables');
    assert.deepEqual(
      rows.map((row) => plainCell(row['Map it with'])),
      [
        'ARM_OIDC_TOKEN: $(ARM_OIDC_TOKEN)',
        'idToken: $(idToken)',
        'AZUREWIF_ACCESS_TOKEN: $(AZUREWIF_ACCESS_TOKEN)',
        'AZUREWIF_ACCESS_TOKEN_GRAPH: $(AZUREWIF_ACCESS_TOKEN_GRAPH)',
      ],
    );
    assert.equal(
      rows.at(-1)?.['Read by'],
      'scripts calling `https://graph.microsoft.com` (`Authorization: Bearer`)',
    );
  });

  it('gives each output variable its dependencies expression under the step and job names', () => {
    const summary = inputs();
    const markdown = renderSummary(summary);
    const rows = tableUnder(markdown, 'Output variables for later jobs and stages');
    const outputs = summary.variables.filter((v) => v.output);
    assert.deepEqual(
      rows.map((row) => [
        plainCell(row.Output),
        row.Secret,
        plainCell(row['In a later job (`variables:` of a job that `dependsOn` this one)']),
      ]),
      outputs.map((v) => [
        v.name,
        v.secret ? 'yes' : 'no',
        `$[ dependencies.Deploy.outputs['azureLogin.${v.name}'] ]`,
      ]),
    );
    assert.match(
      markdown,
      /In a later stage: `\$\[ stageDependencies\.Prod\.Deploy\.outputs\['azureLogin\.<name>'\] \]`/,
    );
    assert.match(markdown, /This step's name is `azureLogin`\./);
  });

  it('follows a renamed or added variable in the plan without a change here', () => {
    const summary = inputs();
    const renamed = summary.variables.map((v) =>
      v.name === 'ARM_CLIENT_ID' ? { ...v, name: 'ARM_CLIENT_ID_RENAMED' } : v,
    );
    renamed.push({ name: 'NEW_SECRET', value: 'n3w-s3cret-value', secret: true, output: false });
    const markdown = renderSummary({ ...summary, variables: renamed });
    const plain = tableUnder(markdown, 'Variables for later steps of this job').map((row) =>
      plainCell(row.Variable),
    );
    assert.ok(plain.includes('ARM_CLIENT_ID_RENAMED') && !plain.includes('ARM_CLIENT_ID'));
    assert.equal(
      plainCell(tableUnder(markdown, 'Secret variables').at(-1)!['Map it with']),
      'NEW_SECRET: $(NEW_SECRET)',
    );
    assert.ok(!markdown.includes('n3w-s3cret-value'));
  });

  it('never contains a token', () => {
    for (const exportIdToken of [true, false]) {
      const markdown = renderSummary(inputs({ exportIdToken }));
      for (const secret of [ID_TOKEN, ACCESS_TOKEN, GRAPH_TOKEN]) assert.ok(!markdown.includes(secret));
      // Not even a piece of one: no JWT-looking text at all.
      assert.doesNotMatch(markdown, /eyJ[A-Za-z0-9_-]{8,}/);
    }
  });

  it('says when the step has no name: and shows <step name> with the fix', () => {
    for (const stepName of [undefined, `${taskName}1`, taskName]) {
      const markdown = renderSummary(inputs({ stepName }));
      const rows = tableUnder(markdown, 'Output variables for later jobs and stages');
      assert.equal(
        plainCell(rows[0]['In a later job (`variables:` of a job that `dependsOn` this one)']),
        "$[ dependencies.Deploy.outputs['<step name>.serviceConnectionId'] ]",
      );
      assert.match(markdown, /This step has no `name:`.*Add `name: azureLogin`/);
    }
    assert.match(
      renderSummary(inputs({ stepName: `${taskName}2` })),
      new RegExp(`the service calls it \`${taskName}2\` for now`),
    );
  });

  it('puts the job name (runOnce) or hook and resource (rolling, canary) before the step in a deployment job, and <job> when the agent gives none', () => {
    const deployment = tableUnder(
      renderSummary(inputs({ deploymentJob: true })),
      'Output variables for later jobs and stages',
    );
    assert.equal(
      plainCell(deployment[1]['In a later job (`variables:` of a job that `dependsOn` this one)']),
      "$[ dependencies.Deploy.outputs['Deploy.azureLogin.clientId'] ]",
    );
    const rolling = tableUnder(
      renderSummary(inputs({ deploymentJob: true, strategyName: 'rolling' })),
      'Output variables for later jobs and stages',
    );
    assert.equal(
      plainCell(rolling[1][OUTPUT_COLUMN]),
      "$[ dependencies.Deploy.outputs['<lifecycle hook>_<resource>.azureLogin.clientId'] ]",
    );
    const unknown = tableUnder(
      renderSummary(inputs({ jobName: undefined })),
      'Output variables for later jobs and stages',
    );
    assert.equal(
      plainCell(unknown[1]['In a later job (`variables:` of a job that `dependsOn` this one)']),
      "$[ dependencies.<job>.outputs['azureLogin.clientId'] ]",
    );
  });

  it('says there is no subscription when a subscription-scoped connection names none', () => {
    const markdown = renderSummary(inputs({ connection: connectionWith({}) }));
    const identity = tableUnder(markdown, 'Identity');
    assert.equal(
      identity.find((row) => row.What === 'Subscription')?.Value,
      'none: the connection names no subscription, so give tools that need one their own (for example `az account set`)',
    );
  });

  it('shows a management group scope instead of a subscription', () => {
    const connection = connectionWith({ scopeLevel: 'ManagementGroup', managementGroupId: 'mg-platform' });
    const identity = tableUnder(renderSummary(inputs({ connection })), 'Identity');
    assert.deepEqual(
      identity.map((row) => row.What),
      [
        'Service connection',
        'Client id',
        'Tenant',
        'Management group',
        'Cloud',
        'idToken issuer',
        'idToken subject',
      ],
    );
    assert.equal(identity[3].Value, '`mg-platform`');
  });

  it('shows a Machine Learning workspace with its resource group, location and subscription', () => {
    const connection = connectionWith({
      scopeLevel: 'AzureMLWorkspace',
      subscriptionId: 'c0ffee00-0000-4000-8000-0000000000a1',
      resourceGroupName: 'rg-ml',
      mlWorkspaceName: 'ws1',
      mlWorkspaceLocation: 'westeurope',
    });
    const identity = tableUnder(renderSummary(inputs({ connection })), 'Identity');
    assert.equal(identity[3].Value, '`ws1` in resource group `rg-ml` (westeurope)');
    assert.equal(identity[4].Value, '`c0ffee00-0000-4000-8000-0000000000a1`');
  });

  it('shows identity, cloud, authority, issuer style and every expiry', () => {
    const markdown = renderSummary(inputs());
    const identity = Object.fromEntries(tableUnder(markdown, 'Identity').map((row) => [row.What, row.Value]));
    assert.deepEqual(identity, {
      'Service connection': '`0f0e0d0c-0000-4000-8000-0000000000cc`',
      'Client id': `\`${CLIENT}\``,
      Tenant: `\`${TENANT}\``,
      Subscription: '`a1b2c3d4-0000-4000-8000-00000000cafe` (Prod)',
      Cloud: '`AzureCloud`, authority `https://login.microsoftonline.com/`',
      'idToken issuer': `\`${entraClaims.iss}\` (Microsoft Entra issuer)`,
      'idToken subject': `\`${entraClaims.sub}\``,
    });
    assert.deepEqual(
      tableUnder(markdown, 'Token expiry (UTC)').map((row) => [row.Token, row.Expires]),
      [
        ['idToken', '2026-12-06T03:10:00Z'],
        ['Access token for Resource Manager (`https://management.azure.com/`)', '2026-12-06T04:00:00Z'],
        ['Access token for GRAPH (`https://graph.microsoft.com`)', '2026-12-06T04:01:00Z'],
      ],
    );
  });

  it('says the renewer is not running when the caller passes no state, and shows one when it does', () => {
    assert.match(
      renderSummary(inputs()),
      /Token file renewer: not running\. `AZURE_FEDERATED_TOKEN_FILE` holds the idToken above until it expires; a longer step renews it with `azure-wif-token exec -- <command>`/,
    );
    assert.match(
      renderSummary(
        inputs({ renewer: { running: true, detail: 'renews the token file every 5 minutes (pid 42)' } }),
      ),
      /Token file renewer: running, renews the token file every 5 minutes \(pid 42\)\./,
    );
  });

  it('lists the azure-wif-token commands under the instance name', () => {
    const rows = tableUnder(
      renderSummary(inputs({ prefix: 'STATE_', commandName: 'azure-wif-token-state' })),
      'Fresh tokens in later steps',
    );
    assert.deepEqual(
      rows.map((row) => plainCell(row.Command)),
      [
        'azure-wif-token-state',
        'azure-wif-token-state access-token [--resource <uri>]',
        'azure-wif-token-state renew-file',
        'azure-wif-token-state exec -- <command> [args…]',
      ],
    );
  });

  it('gives a prefixed instance its own file name and title, with prefixed names in its tables', () => {
    assert.equal(summaryFileName(''), 'azure-workload-identity.md');
    assert.equal(summaryFileName('STATE_'), 'azure-workload-identity-STATE.md');
    assert.equal(summaryTitle('STATE_'), 'Azure workload identity (STATE)');
    const markdown = renderSummary(inputs({ prefix: 'STATE_' }));
    assert.ok(markdown.startsWith('## Azure workload identity (STATE)\n'));
    const secrets = tableUnder(markdown, 'Secret variables');
    assert.equal(plainCell(secrets[0]['Map it with']), 'STATE_ARM_OIDC_TOKEN: $(STATE_ARM_OIDC_TOKEN)');
    assert.equal(secrets[0]['Read by'], 'Terraform (azurerm, azuread, azapi, azurerm backend)');
  });

  it('says nothing needs changing when there is no advice', () => {
    assert.equal(sections(renderSummary(inputs())).get('Advice')?.trim(), 'Nothing to change.');
  });

  it('shows the Azure DevOps issuer retirement with the same words as the log, and the credential to add', () => {
    const connection = connectionWith({ subscriptionId: 'c0ffee00-0000-4000-8000-0000000000a2' });
    const advice = preflightAdvice(devopsClaims, connection);
    const markdown = renderSummary(inputs({ connection, claims: devopsClaims, advice }));
    const section = sections(markdown).get('Advice')!;
    const [warning] = preflightWarnings(devopsClaims, connection);
    assert.match(warning, /retires on 2027-07-01/);
    // The log's sentence, as Markdown shows it (escaping undone).
    assert.ok(section.replace(/\\(.)/g, '$1').includes(warning), section);
    assert.match(section, /^- \*\*Warning: Azure DevOps issuer retires on 2027-07-01\.\*\*/m);
    assert.match(
      section,
      /After conversion: issuer https:\/\/login\.microsoftonline\.com\/\\<your organization's Entra tenant id\\>\/v2\.0, subject \/eid1\/c\/pub\/t\/\\<tenant\\>\/a\/\\<app\\>\/sc\/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee\/0f0e0d0c-0000-4000-8000-0000000000cc\./,
    );
    assert.match(tableUnder(markdown, 'Identity').at(-2)!.Value, /\(Azure DevOps \(deprecated\) issuer\)$/);
  });

  it('shows a federated credential that will not match, from the same advice as the log', () => {
    const connection = connectionWith(
      { subscriptionId: 'c0ffee00-0000-4000-8000-0000000000a2' },
      {
        workloadIdentityFederationIssuer: devopsClaims.iss,
        workloadIdentityFederationSubject: devopsClaims.sub,
      },
    );
    const advice = preflightAdvice(entraClaims, connection);
    assert.deepEqual(
      advice.map((a) => a.title),
      [
        "The idToken's issuer differs from the connection's",
        "The idToken's subject differs from the connection's",
      ],
    );
    const section = sections(renderSummary(inputs({ connection, advice }))).get('Advice')!;
    for (const warning of preflightWarnings(entraClaims, connection))
      assert.ok(section.replace(/\\(.)/g, '$1').includes(warning));
  });

  it('escapes Markdown and pipes that come from the token or the connection', () => {
    const hostile = { ...entraClaims, sub: 'sc://org/p|roj/<img src=x onerror=alert(1)>/**bold**' };
    const markdown = renderSummary(inputs({ claims: hostile }));
    const subject = tableUnder(markdown, 'Identity').find((row) => row.What === 'idToken subject')!;
    assert.equal(plainCell(subject.Value), hostile.sub);
    assert.equal(code('a`b'), '``a`b``');
    assert.ok(!/<img/.test(markdown.replace(/`[^`]*`/g, '')));
  });

  it('renders the renewer record the post-job step appends', () => {
    assert.equal(
      renderRenewerRecord({
        renewals: 3,
        lastRenewedAt: new Date('2026-12-06T03:20:00Z'),
        stoppedAt: new Date('2026-12-06T03:25:00Z'),
        reason: 'the job ended',
      }),
      '\n### Token file renewer (post-job)\n\nRenewed the token file 3 times, last at 2026-12-06T03:20:00Z; stopped at 2026-12-06T03:25:00Z: the job ended\n',
    );
  });
});

describe('job-context advice', () => {
  const base = {
    exportIdToken: false,
    prefix: '',
    federatedTokenFile: '/__w/_temp/azure-wif-abc/federated-token.jwt',
    commandName: 'azure-wif-token',
  };

  it('has nothing to say about a plain job with exportIdToken off', () => {
    assert.deepEqual(jobContextAdvice(base), []);
  });

  it('warns in a container job that host steps do not see the container paths', () => {
    const [advice] = jobContextAdvice({ ...base, containerId: 'c0ffee' });
    assert.equal(advice.level, 'warning');
    assert.equal(
      `${advice.cause} ${advice.fix}`,
      'This step runs in a container job (Agent.ContainerId c0ffee): the token file /__w/_temp/azure-wif-abc/federated-token.jwt and azure-wif-token are where this step ran, ' +
        'and the agent translates host paths for steps in the container but not container paths for steps on the host. ' +
        'Run this task where the steps that use it run: in the container for container steps, or with `target: host` before steps that have `target: host`.',
    );
  });

  it('warns in a deployment job that variables stay in the lifecycle hook', () => {
    const [advice] = jobContextAdvice({ ...base, environmentName: 'prod', strategyName: 'runOnce' });
    assert.equal(advice.level, 'warning');
    assert.match(
      advice.cause,
      /^This step runs in a deployment job \(environment prod, strategy runOnce\), where each lifecycle hook/,
    );
    assert.match(advice.fix, /^Run this task in each hook whose steps need Azure/);
  });

  it("notes, when exportIdToken is on, how to keep Terraform's refresh, under the prefixed name", () => {
    const [advice] = jobContextAdvice({ ...base, exportIdToken: true, prefix: 'STATE_' });
    assert.equal(advice.level, 'note');
    assert.match(advice.cause, /^exportIdToken is on, so STATE_ARM_OIDC_TOKEN holds this step's idToken/);
    assert.match(
      advice.fix,
      /map `SYSTEM_ACCESSTOKEN: \$\(System\.AccessToken\)` instead of STATE_ARM_OIDC_TOKEN/,
    );
    assert.match(advice.fix, /or set exportIdToken: false/);
  });
});
