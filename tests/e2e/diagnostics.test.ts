import { strict as assert } from 'node:assert';
import { adoErrors, type Emulator, type EmulatorConnection } from '../emulator';
import type { AgentJob, StepResult } from '../harness/agent';
import { EmulatedJob, leakReport, startEmulator } from '../harness/scenario';

const GUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const AUDIENCE = 'api://AzureADTokenExchange';

/** Support ids vary per request: the test pins everything else. */
function normalized(message: string): string {
  return message
    .replace(/ \(x-vss-e2eid: [^)]*\)/g, ' (support ids)')
    .replace(
      new RegExp(`Trace ID: ${GUID}, Correlation ID: ${GUID}`, 'g'),
      'Trace ID: <id>, Correlation ID: <id>',
    );
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

interface Context {
  emulator: Emulator;
  connection: EmulatorConnection;
  /** The idToken claims the failing run presented, for the credential Entra should have. */
  claims: () => { iss: string; sub: string };
}

interface Case {
  name: string;
  arrange?: (c: Context) => void;
  job?: (job: AgentJob, c: Context) => void;
  /** The exact message, or a pattern where Entra's own text and ids are part of it. */
  expected: (c: Context) => string | RegExp;
  /** Warnings instead of a failure: the run succeeds and these are the warnings. */
  warns?: boolean;
}

const oidc = (c: Context, preset: Parameters<Emulator['failNext']>[1]) =>
  c.emulator.failNext('oidctoken', preset as never);

const devopsCases: Case[] = [
  {
    name: 'neither System.OidcRequestUri nor the collection URI',
    job: (job) => {
      job.oidcRequestUri = undefined;
      job.collectionUri = undefined;
    },
    expected: () =>
      'The agent did not provide System.OidcRequestUri nor System.CollectionUri with the job ids, so the task cannot ask Azure DevOps for an idToken. ' +
      'Run the task as a step of a pipeline job on Azure DevOps Services or Azure DevOps Server 2022.1 or later, with agent 4.248.0 or newer.',
  },
  {
    name: 'no job access token',
    job: (job) => {
      job.jobAccessToken = undefined;
    },
    expected: () =>
      'The agent did not give the task the job access token (endpoint SYSTEMVSSCONNECTION), which it needs to ask Azure DevOps for an idToken. ' +
      'Run the task on agent 4.248.0 or newer; in a classic release, enable "Allow scripts to access the OAuth token" on the agent job.',
  },
  {
    name: 'HTTP 400 without api-version',
    arrange: (c) => oidc(c, 'noApiVersion'),
    expected: (c) =>
      `Azure DevOps rejected the idToken request for service connection ${c.connection.id} (HTTP 400): ${adoErrors.noApiVersion('POST').message} (support ids). ` +
      'Update the agent to the latest version; if it persists, report the message and ids above to Azure DevOps support.',
  },
  {
    name: 'HTTP 401 for the job access token',
    arrange: (c) => oidc(c, 'unauthorized'),
    expected: () =>
      'Azure DevOps did not accept the job access token when asked for an idToken (HTTP 401) (support ids). ' +
      'Re-run the job; the token is issued per job and is only valid while the job runs.',
  },
  {
    name: 'a wrong job access token, answered 401 because the task suppresses the sign-in redirect',
    job: (job) => {
      job.jobAccessToken = 'not-the-job-token-0123456789';
    },
    expected: () =>
      'Azure DevOps did not accept the job access token when asked for an idToken (HTTP 401) (support ids). ' +
      'Re-run the job; the token is issued per job and is only valid while the job runs.',
  },
  {
    name: 'HTTP 403 for the pipeline',
    arrange: (c) => oidc(c, 'forbidden'),
    expected: (c) =>
      `Azure DevOps refused this job an idToken for service connection ${c.connection.id} (HTTP 403): ${adoErrors.forbidden(c.emulator.options.organizationName).message} (support ids). ` +
      'Allow this pipeline to use the connection: Project settings > Service connections > the connection > Security > Pipeline permissions.',
  },
  {
    name: 'HTTP 404 No service connection found',
    arrange: (c) => oidc(c, 'notFound'),
    expected: (c) =>
      `Azure DevOps found no service connection ${c.connection.id} for this job (HTTP 404): No service connection found with identifier ${c.connection.id}. (support ids). ` +
      'Check that the azureSubscription input names an Azure Resource Manager connection that exists in this project or is shared with it.',
  },
  {
    name: 'a connection the organization does not have',
    job: (job) => {
      const unknown = '0badc0de-0000-4000-8000-000000000000';
      job.connection = { ...job.connection, id: unknown };
    },
    expected: () =>
      'Azure DevOps found no service connection 0badc0de-0000-4000-8000-000000000000 for this job (HTTP 404): No service connection found with identifier 0badc0de-0000-4000-8000-000000000000. (support ids). ' +
      'Check that the azureSubscription input names an Azure Resource Manager connection that exists in this project or is shared with it.',
  },
  ...(['signInPage203', 'signInRedirect302'] as const).map((preset): Case => ({
    name: `an HTML sign-in page (${preset})`,
    arrange: (c) => oidc(c, preset),
    expected: () =>
      `Azure DevOps answered the idToken request with a sign-in page (HTTP ${preset === 'signInPage203' ? 203 : 302}) (support ids), so it did not accept the job access token. ` +
      'Re-run the job; if it persists, check that the job can use its access token (for a release, enable "Allow scripts to access the OAuth token" on the agent job).',
  })),
  {
    name: 'a 200 that says the connection has no explicit reference',
    arrange: (c) => oidc(c, 'noExplicitReference'),
    expected: (c) =>
      `Azure DevOps would not issue an idToken for service connection ${c.connection.id}: ${adoErrors.noExplicitReference(c.connection.id).value} (support ids). ` +
      "Reference the connection by its name or id in a task input of this job (this task's azureSubscription input does so when it names the connection directly, not through a runtime variable).",
  },
  {
    // Retried 2 s apart as Microsoft's tasks do, until the overall timeout leaves no room for another try.
    name: 'a 200 without oidcToken, every time',
    arrange: (c) => c.emulator.failNext('oidctoken', 'missingOidcToken', 5),
    job: (job) => (job.inputs = { ...job.inputs, overallTimeoutSeconds: '3' }),
    expected: (c) =>
      new RegExp(
        `^${escape(
          `Azure DevOps answered the idToken request for service connection ${c.connection.id} without an oidcToken (support ids). ` +
            'Re-run the job; if it persists, update the agent and report the ids above to Azure DevOps support. (gave up after 2 attempt(s) in ',
        )}2\\.\\d s\\)$`,
      ),
  },
  {
    name: 'a token that is not a JWT',
    arrange: (c) => oidc(c, 'notAJwt'),
    expected: () =>
      'Azure DevOps returned an idToken that is not a valid JWT: it has 1 part(s) instead of 3. ' +
      'Retry the job; if it persists, check that no proxy rewrites responses from Azure DevOps.',
  },
  {
    name: 'a token that expired already',
    arrange: (c) => oidc(c, 'expiredToken'),
    expected: () =>
      new RegExp(
        `^Azure DevOps returned an idToken that expired at \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.000Z, before it could be used \\(support ids\\)\\. ` +
          escape("Check the agent machine's clock; if it is right, re-run the job.") +
          '$',
      ),
  },
];

function credentialFix(c: Context): string {
  const { iss, sub } = c.claims();
  const id = c.connection.clientId;
  const parameters = JSON.stringify({
    name: 'azure-pipelines',
    issuer: iss,
    subject: sub,
    audiences: [AUDIENCE],
  });
  return (
    `Add a federated credential with issuer '${iss}', subject '${sub}' and audience '${AUDIENCE}' to the identity ${id}: ` +
    `for an app registration run: az ad app federated-credential create --id ${id} --parameters '${parameters}'; ` +
    `for a user-assigned managed identity run: az identity federated-credential create --name azure-pipelines --identity-name <identity-name> --resource-group <resource-group> ` +
    `--issuer '${iss}' --subject '${sub}' --audiences ${AUDIENCE}.`
  );
}

function entraCase(code: number, cause: string, remedy: (c: Context) => string): Case {
  return {
    name: `AADSTS${code}`,
    arrange: (c) => c.emulator.failNext('token', code),
    expected: (c) =>
      new RegExp(
        '^' +
          escape(
            `Entra ID refused the idToken for client ${c.connection.clientId} in tenant ${c.connection.tenantId}: ${cause}. ${remedy(c)} Entra ID said: AADSTS${code}: `,
          ) +
          `.+ \\(Trace ID: <id>, Correlation ID: <id>\\)$`,
      ),
  };
}

const tenantFix = (c: Context) =>
  `Set the service connection's tenant id to the directory (tenant) id of the identity ${c.connection.clientId}; it is currently ${c.connection.tenantId}.`;
const convertFix = (verb: string) => () =>
  `Convert the service connection to workload identity federation (Project settings > Service connections > "Convert") so ${verb}.`;
const signatureFix = () =>
  'Re-run the job (the issuer may have just rotated its keys); if it persists, check that nothing between the agent and Azure DevOps rewrites responses, and report the ids below to Azure DevOps support.';

const entraCases: Case[] = [
  entraCase(700211, "No federated credential on the identity trusts the idToken's issuer", credentialFix),
  entraCase(
    700213,
    "No federated credential on the identity matches the idToken's subject (typically after the organization, project or connection was renamed, or the connection was converted to the Entra issuer)",
    credentialFix,
  ),
  entraCase(
    70021,
    'No federated credential on the identity matches the idToken (typically after an organization, project or connection rename)',
    credentialFix,
  ),
  entraCase(70025, 'The identity has no federated credentials at all', credentialFix),
  entraCase(
    700212,
    `The federated credential expects a different audience than '${AUDIENCE}'`,
    credentialFix,
  ),
  entraCase(
    700016,
    "The connection's client id is not an application or managed identity in its tenant",
    (c) =>
      `Check that the service connection's client id ${c.connection.clientId} and tenant id ${c.connection.tenantId} name an existing app registration or managed identity, then edit the connection or recreate it.`,
  ),
  entraCase(900023, "The connection's tenant id is not a tenant Entra ID knows", tenantFix),
  entraCase(
    90002,
    "The connection's tenant id names no tenant Entra ID knows (deleted, or mistyped)",
    tenantFix,
  ),
  entraCase(
    700024,
    'The idToken was expired or not yet valid when Entra ID checked it',
    () =>
      "Check that the agent machine's clock is right, and re-run the job; later steps must fetch a fresh idToken rather than reuse one older than 10 minutes.",
  ),
  entraCase(
    700223,
    'The tenant does not allow federated credentials for this identity',
    () =>
      'Ask a tenant administrator to allow workload identity federation for this identity (Entra ID policy on flexible or federated credentials).',
  ),
  entraCase(
    700238,
    "A tenant policy restricts which issuers or subjects the identity's federated credentials may use",
    () =>
      "Ask a tenant administrator to allow the idToken's issuer and subject in the federated credential policy, or use an identity the policy permits.",
  ),
  entraCase(
    70052,
    'The identity is a multitenant app, which the Microsoft Entra issuer does not support',
    () =>
      'Make the app registration single-tenant, or use a user-assigned managed identity for the service connection.',
  ),
  entraCase(
    900382,
    "The idToken comes from a different cloud than the connection's Entra authority",
    (c) =>
      `Create the service connection in the same cloud as the identity; this connection targets AzureCloud at ${c.emulator.authorityHost}.`,
  ),
  entraCase(
    7000215,
    'Entra ID expected a client secret: the identity is set up for a secret-based connection',
    convertFix('that Entra ID accepts the idToken'),
  ),
  entraCase(
    7000222,
    'The client secret the identity was set up with has expired: the identity is set up for a secret-based connection',
    convertFix('that no secret is needed'),
  ),
  entraCase(
    700027,
    "Entra ID could not verify the idToken's signature against its issuer's published keys",
    signatureFix,
  ),
  entraCase(7000272, "Entra ID found no published key of the idToken's issuer that signed it", signatureFix),
  {
    name: 'a federated credential whose subject no longer matches (real check, not a preset)',
    arrange: (c) => {
      const identity = c.emulator.identity(c.connection.clientId)!;
      c.emulator.setOptions({
        identities: c.emulator.options.identities.map((i) =>
          i === identity
            ? {
                ...i,
                federatedCredentials: i.federatedCredentials.map((f) => ({
                  ...f,
                  subject: `${f.subject}-renamed`,
                })),
              }
            : i,
        ),
      });
    },
    expected: (c) =>
      new RegExp(
        '^' +
          escape(
            `Entra ID refused the idToken for client ${c.connection.clientId} in tenant ${c.connection.tenantId}: No federated credential on the identity matches the idToken's subject`,
          ) +
          '.*' +
          escape(credentialFix(c)) +
          ' Entra ID said: AADSTS700213: ',
      ),
  },
];

const schemeCases: Case[] = [
  {
    name: 'a ServicePrincipal (secret) connection',
    job: (job) => {
      job.connection.scheme = 'ServicePrincipal';
      job.connection.authParameters.authenticationType = 'spnKey';
    },
    expected: (c) =>
      `Service connection ${c.connection.id} uses the authentication scheme 'ServicePrincipal' (spnKey), but this task needs 'WorkloadIdentityFederation'. ` +
      'Open Project settings > Service connections, select the connection and choose "Convert" to switch it to workload identity federation, ' +
      'or create a new Azure Resource Manager connection with "Workload identity federation".',
  },
  {
    name: 'a certificate connection',
    job: (job) => {
      job.connection.scheme = 'ServicePrincipal';
      job.connection.authParameters.authenticationType = 'spnCertificate';
    },
    expected: (c) =>
      new RegExp(
        `^Service connection ${c.connection.id} uses the authentication scheme 'ServicePrincipal' \\(spnCertificate\\), but`,
      ),
  },
  {
    name: 'a ManagedServiceIdentity connection',
    job: (job) => {
      job.connection.scheme = 'ManagedServiceIdentity';
    },
    expected: (c) =>
      `Service connection ${c.connection.id} uses the authentication scheme 'ManagedServiceIdentity', which only works on agents running in Azure with that managed identity, ` +
      'so it cannot give later steps a federated token. ' +
      'Open Project settings > Service connections, select the connection and choose "Convert" to switch it to workload identity federation, ' +
      'or create a new Azure Resource Manager connection with "Workload identity federation".',
  },
  {
    name: 'a PublishProfile connection',
    job: (job) => {
      job.connection.scheme = 'PublishProfile';
    },
    expected: (c) =>
      new RegExp(
        `^Service connection ${c.connection.id} uses the authentication scheme 'PublishProfile', but this task needs`,
      ),
  },
];

describe('diagnostics: every misconfiguration gets its cause and its exact fix', function () {
  this.timeout(120_000);
  let emulator: Emulator;
  const steps: StepResult[] = [];
  let context: Context;
  let identities: Emulator['options']['identities'];

  before(async () => {
    emulator = await startEmulator();
    identities = emulator.options.identities;
  });
  after(async () => emulator?.stop());
  beforeEach(() => {
    emulator.setOptions({ identities });
    const connection = emulator.options.connections.find((c) => c.issuerStyle === 'entra')!;
    context = {
      emulator,
      connection,
      claims: () => {
        const token = emulator.issuedIdTokens.at(-1)!;
        const claims = emulator.decode(token).payload as { iss: string; sub: string };
        return { iss: claims.iss, sub: claims.sub };
      },
    };
  });
  afterEach(() => {
    emulator.clearScripts();
    emulator.clearRequests();
  });

  const cases = [...devopsCases, ...entraCases, ...schemeCases];
  it('covers at least 25 conditions', () => assert.ok(cases.length >= 25, `${cases.length} cases`));

  for (const debug of [false, true]) {
    for (const testCase of cases) {
      it(`${testCase.name}${debug ? ' (system.debug=true)' : ''}`, async () => {
        testCase.arrange?.(context);
        const job = EmulatedJob.forConnection(emulator, context.connection, { debug });
        testCase.job?.(job.job, context);
        const step = await job.runTask();
        steps.push(step);
        assert.equal(step.result?.result, 'Failed', step.stdout);
        assert.deepEqual(step.errors.length, 1, 'exactly one error issue');
        const message = normalized(step.result?.message ?? '');
        const expected = testCase.expected(context);
        if (typeof expected === 'string') assert.equal(message, expected);
        else assert.match(message, expected);
        assert.deepEqual(leakReport(emulator, [step]), []);
      });
    }
  }

  describe('warnings that do not fail the run', () => {
    it('warns that the Azure DevOps issuer is deprecated, with the retirement date and the conversion', async () => {
      const connection = emulator.options.connections.find((c) => c.issuerStyle === 'azuredevops')!;
      const step = await EmulatedJob.forConnection(emulator, connection).runTask();
      steps.push(step);
      assert.equal(step.result?.result, 'Succeeded');
      assert.deepEqual(step.warnings, [
        `Service connection ${connection.id} uses the Azure DevOps issuer (https://vstoken.dev.azure.com/${emulator.options.organizationId}), which Microsoft deprecated on 2026-07-01 and retires on 2027-07-01. ` +
          'Convert it to the Microsoft Entra issuer: Project settings > Service connections > the connection > "Convert", then update the federated credential to the new issuer and subject it shows.',
      ]);
    });

    it('warns before calling Entra when the idToken differs from the issuer and subject the connection records', async () => {
      const job = EmulatedJob.forConnection(emulator, context.connection);
      job.job.connection.authParameters.workloadIdentityFederationIssuer =
        'https://login.microsoftonline.com/other/v2.0';
      job.job.connection.authParameters.workloadIdentityFederationSubject = 'sc://old/name';
      const step = await job.runTask();
      steps.push(step);
      assert.equal(step.result?.result, 'Succeeded');
      const { iss, sub } = context.claims();
      assert.deepEqual(step.warnings, [
        `The idToken's issuer '${iss}' differs from the issuer the service connection records ('https://login.microsoftonline.com/other/v2.0'). ` +
          'Make the federated credential on the app or managed identity match the idToken; the Entra exchange below will tell whether it does.',
        `The idToken's subject '${sub}' differs from the subject the service connection records ('sc://old/name'). ` +
          'Make the federated credential on the app or managed identity match the idToken; the Entra exchange below will tell whether it does.',
      ]);
    });

    it('logs the idToken claims, never the token', async () => {
      const step = await EmulatedJob.forConnection(emulator, context.connection).runTask();
      steps.push(step);
      const { iss, sub } = context.claims();
      const exp = new Date(
        (emulator.decode(emulator.issuedIdTokens.at(-1)!).payload.exp as number) * 1000,
      ).toISOString();
      assert.deepEqual(step.plainLines.slice(0, 4), [
        `idToken issuer:   ${iss} (Microsoft Entra issuer)`,
        `idToken subject:  ${sub}`,
        `idToken audience: ${AUDIENCE}`,
        `idToken expires:  ${exp}`,
      ]);
    });

    it('adds request metadata with system.debug=true: URLs, status, timing and header names', async () => {
      const step = await EmulatedJob.forConnection(emulator, context.connection, { debug: true }).runTask();
      steps.push(step);
      const debug = step.commands.filter((c) => c.event === 'debug').map((c) => c.data);
      assert.ok(
        debug.some((line) =>
          new RegExp(
            `^POST ${escape(emulator.oidcRequestUri)}\\?api-version=7\\.1&serviceConnectionId=${context.connection.id} -> HTTP 200 in \\d+ ms; headers: .*x-vss-e2eid`,
          ).test(line),
        ),
        debug.join('\n'),
      );
      assert.ok(
        debug.some((line) =>
          /^POST https:\/\/.*\/oauth2\/v2\.0\/token(\?\S*)? -> HTTP 200 in \d+ ms; headers: /.test(line),
        ),
      );
    });
  });

  it('printed no secret in any run above', () => {
    assert.deepEqual(leakReport(emulator, steps), []);
  });
});
