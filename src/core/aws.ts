import { TaskFailure, TransientFailure } from './errors';
import {
  AZURE_DEVOPS_AUDIENCE,
  issuerHostPath,
  printableClaims,
  retiringIssuerNote,
  shellQuote,
  type ProofDependencies,
} from './federation';
import type { IdTokenClaims } from './jwt';
import { isTransientStatus, parseRetryAfter } from './retry';
import { parseUrl, quoteUntrusted } from './text';

/** The AWS inputs as the author wrote them, and the endpoint settings of the agent's environment. */
export interface AwsSettings {
  roleArn: string;
  region?: string;
  sessionName?: string;
  durationSeconds?: number;
  /** AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, AWS_REGION, AWS_DEFAULT_REGION. */
  environment: Record<string, string | undefined>;
  /** Used when awsSessionName is empty, e.g. azure-pipelines-<build id>. */
  defaultSessionName: string;
}

export type AwsPartition = 'aws' | 'aws-cn' | 'aws-us-gov';

export interface AwsTarget {
  roleArn: string;
  partition: AwsPartition;
  accountId: string;
  roleName: string;
  region: string;
  sessionName: string;
  durationSeconds: number;
  /** The STS endpoint the task proves against (the override when the agent has one). */
  stsUrl: string;
}

export interface AwsSession {
  assumedRoleArn: string;
  expiresOn: Date;
}

const ROLE_ARN =
  /^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):role\/(?:[\u0021-\u007e]+\/)?([\w+=,.@-]{1,64})$/;
const DEFAULT_REGION: Record<AwsPartition, string> = {
  aws: 'us-east-1',
  'aws-cn': 'cn-north-1',
  'aws-us-gov': 'us-gov-west-1',
};
const DNS_SUFFIX: Record<AwsPartition, string> = {
  aws: 'amazonaws.com',
  'aws-cn': 'amazonaws.com.cn',
  'aws-us-gov': 'amazonaws.com',
};
export const DEFAULT_AWS_SESSION_SECONDS = 3600;

/** The regional STS endpoint of the role's partition (aws-cn lives under amazonaws.com.cn). */
export function stsEndpoint(partition: AwsPartition, region: string): string {
  return `https://sts.${region}.${DNS_SUFFIX[partition]}/`;
}

/**
 * The endpoint override AWS's own tools honour (AWS SDKs and CLI v2: service-specific first, then global,
 * unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true). Later steps' SDKs read the same environment themselves,
 * so the task does not export it.
 */
export function configuredStsEndpoint(environment: Record<string, string | undefined>): string | undefined {
  if ((environment.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ?? '').trim().toLowerCase() === 'true')
    return undefined;
  const value = environment.AWS_ENDPOINT_URL_STS?.trim() || environment.AWS_ENDPOINT_URL?.trim();
  if (!value) return undefined;
  const url = parseUrl(value);
  if (!url) {
    throw new TaskFailure(
      `The agent's AWS endpoint setting (AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL) is '${quoteUntrusted(value, 100)}', which is not a URL. ` +
        'Set it to the STS endpoint URL, e.g. https://sts.eu-west-1.amazonaws.com, or remove it.',
    );
  }
  return url.pathname.endsWith('/') ? url.toString() : `${url.toString()}/`;
}

/** Checks the AWS inputs before any request, so a typo costs no round trip. */
export function resolveAwsTarget(settings: AwsSettings): AwsTarget {
  const roleArn = settings.roleArn.trim();
  const match = ROLE_ARN.exec(roleArn);
  if (!match) {
    throw new TaskFailure(
      `The input 'awsRoleArn' is '${quoteUntrusted(roleArn, 120)}', which is not an IAM role ARN. ` +
        'Set it to the ARN of the role to assume, e.g. arn:aws:iam::123456789012:role/azure-pipelines (IAM console > Roles > the role > ARN).',
    );
  }
  const partition = match[1] as AwsPartition;
  const env = settings.environment;
  const region = (
    settings.region?.trim() ||
    env.AWS_REGION?.trim() ||
    env.AWS_DEFAULT_REGION?.trim() ||
    DEFAULT_REGION[partition]
  ).toLowerCase();
  if (!/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(region)) {
    throw new TaskFailure(
      `The AWS region '${quoteUntrusted(region, 40)}' is not a region name. Set the input 'awsRegion' to one, e.g. eu-west-1.`,
    );
  }
  if (partition === 'aws-cn' && !region.startsWith('cn-')) {
    throw new TaskFailure(
      `The role ${roleArn} is in the AWS China partition, but the region is ${region}. Set the input 'awsRegion' to cn-north-1 or cn-northwest-1.`,
    );
  }
  if (partition === 'aws-us-gov' && !region.startsWith('us-gov-')) {
    throw new TaskFailure(
      `The role ${roleArn} is in the AWS GovCloud (US) partition, but the region is ${region}. Set the input 'awsRegion' to us-gov-west-1 or us-gov-east-1.`,
    );
  }
  const sessionName = settings.sessionName?.trim() || settings.defaultSessionName;
  if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) {
    throw new TaskFailure(
      `The input 'awsSessionName' is '${quoteUntrusted(sessionName, 80)}', which AWS does not accept as a role session name. ` +
        'Use 2 to 64 letters, digits and the characters _+=,.@- (e.g. azure-pipelines-$(Build.BuildId)).',
    );
  }
  const durationSeconds = settings.durationSeconds ?? DEFAULT_AWS_SESSION_SECONDS;
  if (durationSeconds < 900 || durationSeconds > 43_200) {
    throw new TaskFailure(
      `The input 'awsSessionDurationSeconds' is ${durationSeconds}, outside what STS allows. Set it to a number of seconds from 900 to 43200.`,
    );
  }
  return {
    roleArn,
    partition,
    accountId: match[2],
    roleName: match[3],
    region,
    sessionName,
    durationSeconds,
    stsUrl: configuredStsEndpoint(env) ?? stsEndpoint(partition, region),
  };
}

function decodeXml(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCodePoint(Number(code)))
    .replace(/&amp;/g, '&');
}

/** The text of the first element with this name (STS's Query API answers flat, namespace-free XML). */
export function xmlElement(xml: string, name: string): string | undefined {
  const match = new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>`).exec(xml);
  return match ? decodeXml(match[1].trim()) : undefined;
}

/** An STS ErrorResponse. */
export interface StsError {
  status: number;
  code: string;
  message: string;
  requestId?: string;
}

function trustPolicy(target: AwsTarget, claims: IdTokenClaims): string {
  const provider = issuerHostPath(printableClaims(claims).iss);
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: {
          Federated: `arn:${target.partition}:iam::${target.accountId}:oidc-provider/${provider}`,
        },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: {
          StringEquals: {
            [`${provider}:aud`]: AZURE_DEVOPS_AUDIENCE,
            [`${provider}:sub`]: printableClaims(claims).sub,
          },
        },
      },
    ],
  });
}

function providerFix(claims: IdTokenClaims): string {
  return `aws iam create-open-id-connect-provider --url ${shellQuote(printableClaims(claims).iss)} --client-id-list ${AZURE_DEVOPS_AUDIENCE}`;
}

function trustFix(target: AwsTarget, claims: IdTokenClaims): string {
  return `aws iam update-assume-role-policy --role-name ${shellQuote(target.roleName)} --policy-document ${shellQuote(trustPolicy(target, claims))}`;
}

/** One sentence of cause and one of remedy for a refused AssumeRoleWithWebIdentity, with STS's own words. */
export function explainStsError(error: StsError, target: AwsTarget, claims: IdTokenClaims): string {
  const said = `STS said: ${error.code}: ${quoteUntrusted(error.message, 300)}${error.requestId ? ` (RequestId: ${quoteUntrusted(error.requestId, 60)})` : ''}`;
  const refused = `AWS STS refused to let the idToken assume the role ${target.roleArn}`;
  const provider = issuerHostPath(printableClaims(claims).iss);
  const providerArn = `arn:${target.partition}:iam::${target.accountId}:oidc-provider/${provider}`;
  let explanation: string;
  if (error.code === 'InvalidIdentityToken' && /no openid ?connect provider found/i.test(error.message)) {
    explanation =
      `${refused}: account ${target.accountId} has no IAM OIDC identity provider for the idToken's issuer. ` +
      `Create it with: ${providerFix(claims)}; then allow the role to be assumed with: ${trustFix(target, claims)}.`;
  } else if (error.code === 'InvalidIdentityToken' && /audience/i.test(error.message)) {
    explanation =
      `${refused}: the IAM OIDC provider for ${provider} does not list the audience ${AZURE_DEVOPS_AUDIENCE}. ` +
      `Add it with: aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn ${shellQuote(providerArn)} --client-id ${AZURE_DEVOPS_AUDIENCE}.`;
  } else if (error.code === 'AccessDenied') {
    explanation =
      `${refused}: the role's trust policy does not allow this issuer, subject and audience. ` +
      `Allow exactly this connection with: ${trustFix(target, claims)}.`;
  } else if (error.code === 'ExpiredTokenException') {
    explanation =
      `${refused}: the idToken had expired when STS checked it. ` +
      "Check that the agent machine's clock is right and re-run the job; later steps read the refreshed token file rather than a saved token.";
  } else if (error.code === 'InvalidIdentityToken') {
    explanation =
      `${refused}: STS could not verify the idToken against the issuer's published keys. ` +
      `Check that the IAM OIDC provider ${providerArn} was created for the issuer ${printableClaims(claims).iss} (STS fetches its keys from there), and re-run the job.`;
  } else if (error.code === 'ValidationError' && /DurationSeconds/i.test(error.message)) {
    explanation =
      `${refused}: the requested session of ${target.durationSeconds} s is longer than the role allows. ` +
      `Lower the input 'awsSessionDurationSeconds', or raise the role's limit: aws iam update-role --role-name ${shellQuote(target.roleName)} --max-session-duration ${target.durationSeconds}.`;
  } else {
    explanation = `${refused} (${quoteUntrusted(error.code, 60)}). Fix the role or its IAM OIDC provider as STS's message below says.`;
  }
  const note = retiringIssuerNote(claims, 'AWS');
  return `${explanation} ${said}${note ? ` ${note}` : ''}`;
}

/** STS codes that say "try again" rather than "no". */
const TRANSIENT_STS_CODES = new Set(['IDPCommunicationError', 'Throttling', 'ServiceUnavailable']);

/**
 * Proves the trust once: an unsigned AssumeRoleWithWebIdentity (Query API) with the idToken. The credentials
 * are not exported (static keys would shadow the SDKs' own refresh from the token file); they are registered
 * as secrets and dropped.
 */
export async function assumeRoleWithWebIdentity(
  target: AwsTarget,
  idToken: string,
  claims: IdTokenClaims,
  deps: ProofDependencies,
): Promise<AwsSession> {
  const body = new URLSearchParams({
    Action: 'AssumeRoleWithWebIdentity',
    Version: '2011-06-15',
    RoleArn: target.roleArn,
    RoleSessionName: target.sessionName,
    WebIdentityToken: idToken,
    DurationSeconds: String(target.durationSeconds),
  }).toString();
  const host = new URL(target.stsUrl).host;
  const response = await deps.transport.send({
    method: 'POST',
    url: target.stsUrl,
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8',
      Accept: 'text/xml',
    },
    body,
  });
  const code = xmlElement(response.body, 'Code');
  if (response.status !== 200 || code !== undefined) {
    const error: StsError = {
      status: response.status,
      code: code ?? `HTTP ${response.status}`,
      message: xmlElement(response.body, 'Message') ?? quoteUntrusted(response.body, 200),
      requestId: xmlElement(response.body, 'RequestId') ?? response.headers['x-amzn-requestid'],
    };
    if (isTransientStatus(response.status) || TRANSIENT_STS_CODES.has(error.code)) {
      throw new TransientFailure(
        `AWS STS at ${host} answered ${error.code} (HTTP ${response.status}). Re-run the job if it persists.`,
        `${error.code} from ${host}`,
        parseRetryAfter(response.headers['retry-after'], deps.now?.() ?? Date.now()),
      );
    }
    if (code === undefined) {
      throw new TaskFailure(
        `AWS STS at ${host} answered HTTP ${response.status} without an STS error. ` +
          "Check the agent's AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL setting and that no proxy rewrites the response.",
      );
    }
    throw new TaskFailure(explainStsError(error, target, claims));
  }
  const secretKey = xmlElement(response.body, 'SecretAccessKey');
  const sessionToken = xmlElement(response.body, 'SessionToken');
  if (secretKey) deps.registerSecret(secretKey);
  if (sessionToken) deps.registerSecret(sessionToken);
  const assumedRoleArn = xmlElement(response.body, 'Arn');
  const expiration = xmlElement(response.body, 'Expiration');
  const expiresOn = expiration ? new Date(expiration) : new Date(NaN);
  if (!assumedRoleArn || !sessionToken || Number.isNaN(expiresOn.getTime())) {
    throw new TaskFailure(
      `AWS STS at ${host} answered 200 without an assumed role and credentials. ` +
        "Check the agent's AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL setting and that no proxy rewrites the response.",
    );
  }
  return { assumedRoleArn: quoteUntrusted(assumedRoleArn, 300), expiresOn };
}
