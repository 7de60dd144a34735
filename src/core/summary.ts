import type { AzureConnection } from './connection';
import { adviceMessage, issuerStyle, type Advice } from './diagnostics';
import type { IdTokenClaims } from './jwt';
import type { ExportedVariable } from './plan';
import { quoteUntrusted } from './text';

/**
 * The run summary: a Markdown page the agent shows as a tab on the run's summary page. It says who later
 * steps are, until when, and exactly how to use each variable. It holds ids and claims, never a token: it is
 * built from the planned variables, and secret values are never read.
 */

/** What a token-file renewer reports; absent while the task has none. */
export interface RenewerState {
  running: boolean;
  /** One line: what it does, e.g. "renews the token file every 5 minutes (pid 1234)". */
  detail: string;
}

export interface SummaryInputs {
  connection: AzureConnection;
  claims: IdTokenClaims;
  /** What the step set, as planned (src/core/plan.ts): the tables are derived from this list. */
  variables: ExportedVariable[];
  accessTokenExpiresOn: Date;
  extraTokens: Array<{ name: string; resource: string; expiresOn: Date }>;
  /** The variablePrefix input ('' when unset). */
  prefix: string;
  /** The step's reference name (System.TaskInstanceName), which output variables are read under. */
  stepName?: string;
  /** The task's name in task.json: the service names a step without `name:` after it (AzureWorkloadIdentity1). */
  taskName: string;
  /** System.PhaseName and System.StageName, for the expressions later jobs and stages use. */
  jobName?: string;
  stageName?: string;
  /** A deployment job reads outputs under the job's name too (runOnce), or the hook's and resource's. */
  deploymentJob: boolean;
  /** Strategy.Name in a deployment job: runOnce, rolling or canary. */
  strategyName?: string;
  /** azure-wif-token's name on PATH for this instance. */
  commandName: string;
  advice: Advice[];
  renewer?: RenewerState;
}

export const SUMMARY_BASE_NAME = 'azure-workload-identity';

/** One file per instance: the agent names the summary tab after the file. */
export function summaryFileName(prefix: string): string {
  const suffix = prefix.replace(/_+$/, '');
  return suffix ? `${SUMMARY_BASE_NAME}-${suffix}.md` : `${SUMMARY_BASE_NAME}.md`;
}

export function summaryTitle(prefix: string): string {
  return prefix ? `Azure workload identity (${prefix.replace(/_+$/, '')})` : 'Azure workload identity';
}

/** Inline code, safe in a table cell: pipes escaped, backticks fenced. */
export function code(value: string): string {
  const text = quoteUntrusted(value, 1000).replace(/\|/g, '\\|');
  const fence = text.includes('`') ? '``' : '`';
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** Prose with `code` spans: Markdown and HTML outside the spans shown as typed. */
export function prose(value: string): string {
  return quoteUntrusted(value, 2000)
    .split(/(`[^`]*`)/)
    .map((part, index) =>
      index % 2 === 1 ? part.replace(/\|/g, '\\|') : part.replace(/([\\*_[\]<>|#!~])/g, '\\$1'),
    )
    .join('');
}

function table(header: string[], rows: string[][]): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ];
}

function time(date: Date): string {
  return date.toISOString().replace('.000Z', 'Z');
}

/** What reads a variable, by the naming conventions of the tools it serves (not a list of names). */
function readBy(name: string, extraTokens: SummaryInputs['extraTokens']): string {
  if (
    /^ARM_(OIDC_REQUEST_URL|ADO_PIPELINE_SERVICE_CONNECTION_ID|OIDC_AZURE_SERVICE_CONNECTION_ID)$/.test(name)
  ) {
    return 'Terraform: its own idToken refresh (with `SYSTEM_ACCESSTOKEN` mapped)';
  }
  if (name.startsWith('ARM_')) return 'Terraform (azurerm, azuread, azapi, azurerm backend)';
  if (name === 'AZURE_FEDERATED_TOKEN_FILE') {
    return 'Azure SDKs (WorkloadIdentityCredential, DefaultAzureCredential), azure-wif-token renews it';
  }
  if (name === 'AZURE_CONFIG_DIR') return 'Azure CLI (`az`), signed in by this task';
  if (name.startsWith('AZURE_')) return 'Azure SDKs (WorkloadIdentityCredential, DefaultAzureCredential)';
  if (name.startsWith('AZURESUBSCRIPTION_'))
    return 'kubelogin `-l azurepipelines`, azd, scripts written for AzureCLI@2';
  if (['servicePrincipalId', 'tenantId', 'idToken'].includes(name)) {
    return 'scripts written for AzureCLI@2 with addSpnToEnvironment';
  }
  if (name.endsWith('_EXPIRES_ON')) return 'scripts that decide when to fetch a fresh token';
  const extra = extraTokens.find((token) => name === `AZUREWIF_ACCESS_TOKEN_${token.name}`);
  if (extra) return `scripts calling ${code(extra.resource)} (\`Authorization: Bearer\`)`;
  if (name === 'AZUREWIF_ACCESS_TOKEN') return 'scripts calling Resource Manager (`Authorization: Bearer`)';
  return 'scripts';
}

function scopeRows(connection: AzureConnection): string[][] {
  const none = (what: string) =>
    `none: the connection names no ${what}, so give tools that need one their own (for example \`az account set\`)`;
  const subscription = connection.subscriptionId
    ? `${code(connection.subscriptionId)}${connection.subscriptionName ? ` (${prose(connection.subscriptionName)})` : ''}`
    : none('subscription');
  switch (connection.scopeLevel) {
    case 'ManagementGroup':
      return [
        [
          'Management group',
          connection.managementGroupId ? code(connection.managementGroupId) : none('management group'),
        ],
      ];
    case 'AzureMLWorkspace': {
      const where = [
        connection.resourceGroupName ? `in resource group ${code(connection.resourceGroupName)}` : undefined,
        connection.mlWorkspaceLocation ? `(${prose(connection.mlWorkspaceLocation)})` : undefined,
      ].filter(Boolean);
      const workspace = connection.mlWorkspaceName
        ? [code(connection.mlWorkspaceName), ...where].join(' ')
        : none('workspace');
      return [
        ['Machine Learning workspace', workspace],
        ['Subscription', subscription],
      ];
    }
    default:
      return [['Subscription', subscription]];
  }
}

/** Outputs are read under the step's reference name; a name the service made up changes as steps move. */
function stepReference(inputs: SummaryInputs): { name: string; note: string } {
  const generated = new RegExp(`^${inputs.taskName}\\d*$`, 'i');
  if (!inputs.stepName || generated.test(inputs.stepName)) {
    const now = inputs.stepName
      ? ` (the service calls it ${code(inputs.stepName)} for now, which changes when steps are added)`
      : '';
    return {
      name: '<step name>',
      note: `This step has no \`name:\`${now}. Add \`name: azureLogin\` (any letters, digits and _) to the step and put that name where the expressions say \`<step name>\`.`,
    };
  }
  return { name: inputs.stepName, note: `This step's name is ${code(inputs.stepName)}.` };
}

/** The run summary as Markdown. */
export function renderSummary(inputs: SummaryInputs): string {
  const { connection, claims, prefix } = inputs;
  const plain = inputs.variables.filter((v) => !v.secret && !v.output);
  const secrets = inputs.variables.filter((v) => v.secret && !v.output);
  const outputs = inputs.variables.filter((v) => v.output);
  const unprefixed = (name: string) => (prefix && name.startsWith(prefix) ? name.slice(prefix.length) : name);
  const tokenFile = inputs.variables.find(
    (v) => unprefixed(v.name) === 'AZURE_FEDERATED_TOKEN_FILE' && !v.output,
  );

  const lines: string[] = [
    `## ${summaryTitle(prefix)}`,
    '',
    `Later steps of this job sign in to Azure as client ${code(connection.clientId)} in tenant ${code(connection.tenantId)}` +
      `${prefix ? `, through the variables that start with ${code(prefix)}` : ''}.`,
    '',
    '### Identity',
    '',
    ...table(
      ['What', 'Value'],
      [
        ['Service connection', code(connection.id)],
        ['Client id', code(connection.clientId)],
        ['Tenant', code(connection.tenantId)],
        ...scopeRows(connection),
        ['Cloud', `${code(connection.cloud.name)}, authority ${code(connection.cloud.authorityHost)}`],
        ['idToken issuer', `${code(claims.iss)} (${issuerStyle(claims.iss)} issuer)`],
        ['idToken subject', code(claims.sub)],
      ],
    ),
    '',
    '### Token expiry (UTC)',
    '',
    ...table(
      ['Token', 'Expires'],
      [
        ['idToken', time(new Date(claims.exp * 1000))],
        [
          `Access token for Resource Manager (${code(connection.cloud.resourceManager)})`,
          time(inputs.accessTokenExpiresOn),
        ],
        ...inputs.extraTokens.map((token) => [
          `Access token for ${prose(token.name)} (${code(token.resource)})`,
          time(token.expiresOn),
        ]),
      ],
    ),
    '',
    inputs.renewer
      ? `Token file renewer: ${inputs.renewer.running ? 'running' : 'stopped'}, ${prose(inputs.renewer.detail)}.`
      : `Token file renewer: not running. ${tokenFile ? code(tokenFile.name) : 'The token file'} holds the idToken above until it expires; ` +
        `a longer step renews it with \`${inputs.commandName} exec -- <command>\` or \`${inputs.commandName} renew-file\`.`,
    '',
    '### Variables for later steps of this job',
    '',
    ...table(
      ['Variable', 'Value', 'Read by'],
      plain.map((v) => [code(v.name), code(v.value), readBy(unprefixed(v.name), inputs.extraTokens)]),
    ),
    '',
  ];

  if (secrets.length > 0) {
    lines.push(
      '### Secret variables',
      '',
      "The agent does not put secrets in later steps' environments: map each one a step needs under its `env:`.",
      '',
      ...table(
        ['Variable', 'Map it with', 'Read by'],
        secrets.map((v) => [
          code(v.name),
          code(`${v.name}: $(${v.name})`),
          readBy(unprefixed(v.name), inputs.extraTokens),
        ]),
      ),
      '',
    );
  }

  if (outputs.length > 0) {
    const step = stepReference(inputs);
    const job = inputs.jobName ?? '<job>';
    // A deployment job's outputs carry the job's name before the step's with runOnce, and
    // <lifecycle hook>_<resource> with rolling and canary (learn.microsoft.com,
    // azure/devops/pipelines/process/deployment-jobs, "Support for output variables").
    const rolling = inputs.strategyName !== undefined && inputs.strategyName.toLowerCase() !== 'runonce';
    const before = inputs.deploymentJob ? `${rolling ? '<lifecycle hook>_<resource>' : job}.` : '';
    const path = (name: string) => `${before}${step.name}.${name}`;
    lines.push(
      '### Output variables for later jobs and stages',
      '',
      prose(step.note),
      '',
      ...table(
        ['Output', 'Secret', 'In a later job (`variables:` of a job that `dependsOn` this one)'],
        outputs.map((v) => [
          code(v.name),
          v.secret ? 'yes' : 'no',
          code(`$[ dependencies.${job}.outputs['${path(v.name)}'] ]`),
        ]),
      ),
      '',
      `In a later stage: ${code(`$[ stageDependencies.${inputs.stageName ?? '<stage>'}.${job}.outputs['${path('<name>')}'] ]`)}. ` +
        `Later in this job: ${code(`$(${step.name}.<name>)`)}.`,
      '',
    );
  }

  lines.push(
    '### Fresh tokens in later steps',
    '',
    `Each command needs \`SYSTEM_ACCESSTOKEN: $(System.AccessToken)\` under the step's \`env:\`.`,
    '',
    ...table(
      ['Command', 'What it does'],
      [
        [code(inputs.commandName), 'prints a fresh idToken and renews the token file'],
        [
          code(`${inputs.commandName} access-token [--resource <uri>]`),
          'prints an Entra access token (default: Resource Manager)',
        ],
        [code(`${inputs.commandName} renew-file`), 'renews the token file only'],
        [
          code(`${inputs.commandName} exec -- <command> [args…]`),
          'runs a command, renewing the token file while it runs',
        ],
      ],
    ),
    '',
    '### Advice',
    '',
  );
  if (inputs.advice.length === 0) {
    lines.push('Nothing to change.', '');
  } else {
    for (const advice of inputs.advice) {
      const label = advice.level === 'warning' ? 'Warning' : 'Note';
      lines.push(`- **${label}: ${prose(advice.title)}.** ${prose(adviceMessage(advice))}`);
      for (const detail of advice.details ?? []) lines.push(`  - ${prose(detail)}`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

/** What the post-job step appends once a renewer has run: what it did, and how it ended. */
export interface RenewerRecord {
  renewals: number;
  lastRenewedAt?: Date;
  stoppedAt: Date;
  /** Why it stopped, one sentence. */
  reason: string;
}

export function renderRenewerRecord(record: RenewerRecord): string {
  const last = record.lastRenewedAt ? `, last at ${time(record.lastRenewedAt)}` : '';
  return [
    '',
    '### Token file renewer (post-job)',
    '',
    `Renewed the token file ${record.renewals} time${record.renewals === 1 ? '' : 's'}${last}; stopped at ${time(record.stoppedAt)}: ${prose(record.reason)}`,
    '',
  ].join('\n');
}
