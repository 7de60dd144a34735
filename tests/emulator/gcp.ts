/**
 * Google Cloud as the task and google-auth-library meet it: the Security Token Service's token exchange
 * (`POST /v1/token`, form or JSON, RFC 8693) for a workload identity pool provider, and IAM Credentials'
 * `POST /v1/projects/-/serviceAccounts/<email>:generateAccessToken` with the federated token.
 *
 * Trust model, as Google has it: an OIDC provider in a pool names the issuer, the allowed audiences and an
 * attribute condition (here: `assertion.sub == '<subject>'`, with google.subject=assertion.sub); a service account
 * grants roles/iam.workloadIdentityUser to `principal://iam.googleapis.com/projects/N/locations/global/
 * workloadIdentityPools/P/subject/<sub>`.
 *
 * Bodies: STS answers `{"error","error_description"}`; the wording of invalid_target, "The audience in ID Token
 * [...] does not match the expected audience." and "The given credential is rejected by the attribute condition."
 * is as users report it; the issuer, signature and expiry wordings are inferred. IAM Credentials answers the
 * google.rpc.Status shape; "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not
 * exist)." is as users report it.
 */
import { randomBytes } from 'node:crypto';
import { jsonReply, type HttpReply, type RequestInfo } from './http';
import { checkIdToken, formFields, type IssuerKeys } from './relying-party';

export interface GcpProvider {
  /** projects/N/locations/global/workloadIdentityPools/P/providers/X */
  name: string;
  issuerUri: string;
  /** Default ['api://AzureADTokenExchange'] here (Google's own default is the provider's full URL). */
  allowedAudiences: string[];
  /** The one subject the attribute condition lets in; undefined: no condition. */
  subject?: string;
  disabled?: boolean;
}

export interface GcpServiceAccount {
  email: string;
  /** Principals granted roles/iam.workloadIdentityUser. */
  workloadIdentityUsers: string[];
}

interface FederatedToken {
  provider: GcpProvider;
  subject: string;
  expiresAt: number;
}

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_TYPES = ['urn:ietf:params:oauth:token-type:jwt', 'urn:ietf:params:oauth:token-type:id_token'];

export class GcpEmulator {
  readonly providers: GcpProvider[] = [];
  readonly serviceAccounts: GcpServiceAccount[] = [];
  /** Every access token issued (federated and impersonated), for leak scans. */
  readonly issuedTokens: string[] = [];
  private readonly federated = new Map<string, FederatedToken>();
  private readonly impersonated = new Map<string, { email: string; expiresAt: number }>();

  constructor(private readonly issuers: IssuerKeys) {}

  /** What `gcloud iam workload-identity-pools providers create-oidc` would set up. */
  addProvider(
    name: string,
    issuerUri: string,
    options: { audiences?: string[]; subject?: string } = {},
  ): GcpProvider {
    const provider: GcpProvider = {
      name,
      issuerUri,
      allowedAudiences: options.audiences ?? ['api://AzureADTokenExchange'],
      subject: options.subject,
    };
    this.providers.push(provider);
    return provider;
  }

  /** What `gcloud iam service-accounts add-iam-policy-binding … --role roles/iam.workloadIdentityUser` would. */
  grantWorkloadIdentityUser(email: string, provider: string, subject: string): void {
    const pool = provider.replace(/\/providers\/[^/]+$/, '');
    const member = `principal://iam.googleapis.com/${pool}/subject/${subject}`;
    const account = this.serviceAccounts.find((a) => a.email === email);
    if (account) account.workloadIdentityUsers.push(member);
    else this.serviceAccounts.push({ email, workloadIdentityUsers: [member] });
  }

  /** POST /v1/token */
  handleSts(info: RequestInfo): HttpReply {
    const contentType = info.headers['content-type'] ?? '';
    let form: Record<string, string>;
    try {
      form = contentType.includes('json')
        ? (JSON.parse(info.body) as Record<string, string>)
        : formFields(info.body);
    } catch {
      return this.stsError(400, 'invalid_request', 'Invalid JSON payload received.');
    }
    if (form.grant_type !== TOKEN_EXCHANGE) {
      return this.stsError(400, 'unsupported_grant_type', `Unsupported grant type: ${form.grant_type ?? ''}`);
    }
    if (form.requested_token_type !== ACCESS_TOKEN_TYPE) {
      return this.stsError(400, 'invalid_request', 'Invalid value for "requested_token_type".');
    }
    if (!JWT_TYPES.includes(form.subject_token_type ?? '')) {
      return this.stsError(400, 'invalid_request', 'Invalid value for "subject_token_type".');
    }
    const name = (form.audience ?? '').replace(/^\/\/iam\.googleapis\.com\//, '');
    const provider = this.providers.find((p) => p.name === name && !p.disabled);
    if (!provider) {
      return this.stsError(
        400,
        'invalid_target',
        'The target service indicated by the "audience" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn\'t exist.',
      );
    }
    const check = checkIdToken(form.subject_token ?? '', this.issuers);
    if (!check.ok && check.problem === 'malformed') {
      return this.stsError(400, 'invalid_grant', 'Unable to parse the ID Token.');
    }
    const iss = String(check.ok ? check.claims.iss : check.claims?.iss);
    if (iss !== provider.issuerUri) {
      return this.stsError(
        400,
        'invalid_grant',
        `The issuer in ID Token ${iss} does not match the expected ones.`,
      );
    }
    if (!check.ok && check.problem === 'expired') {
      return this.stsError(400, 'invalid_grant', `ID Token expired at ${String(check.claims?.exp)}.`);
    }
    if (!check.ok) return this.stsError(400, 'invalid_grant', 'Invalid ID Token signature.');
    const claims = check.claims;
    if (!claims.aud.some((a) => provider.allowedAudiences.includes(a))) {
      return this.stsError(
        400,
        'invalid_grant',
        `The audience in ID Token [${claims.aud.join(', ')}] does not match the expected audience.`,
      );
    }
    if (provider.subject !== undefined && provider.subject !== claims.sub) {
      return this.stsError(
        400,
        'unauthorized_client',
        'The given credential is rejected by the attribute condition.',
      );
    }
    const token = `ya29.d.${randomBytes(48).toString('base64url')}`;
    const expiresIn = Math.max(1, Math.min(3600, claims.exp - this.issuers.nowSeconds() + 3600));
    this.federated.set(token, {
      provider,
      subject: claims.sub,
      expiresAt: this.issuers.nowSeconds() + expiresIn,
    });
    this.issuedTokens.push(token);
    return jsonReply(200, {
      access_token: token,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: expiresIn,
    });
  }

  /** POST /v1/projects/-/serviceAccounts/<email>:generateAccessToken */
  handleGenerateAccessToken(info: RequestInfo, email: string): HttpReply {
    const bearer = /^Bearer (.+)$/i.exec(info.headers.authorization ?? '')?.[1];
    const federated = bearer ? this.federated.get(bearer) : undefined;
    if (!federated || federated.expiresAt <= this.issuers.nowSeconds()) {
      return this.rpcError(
        401,
        'UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
      );
    }
    const account = this.serviceAccounts.find((a) => a.email === email);
    if (!account) return this.rpcError(404, 'NOT_FOUND', `Not found; Gaia id not found for email ${email}`);
    const pool = federated.provider.name.replace(/\/providers\/[^/]+$/, '');
    const member = `principal://iam.googleapis.com/${pool}/subject/${federated.subject}`;
    if (!account.workloadIdentityUsers.includes(member)) {
      return this.rpcError(
        403,
        'PERMISSION_DENIED',
        "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
        [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'IAM_PERMISSION_DENIED',
            domain: 'iam.googleapis.com',
            metadata: { permission: 'iam.serviceAccounts.getAccessToken' },
          },
        ],
      );
    }
    const token = `ya29.c.${randomBytes(48).toString('base64url')}`;
    const expiresAt = this.issuers.nowSeconds() + 3600;
    this.impersonated.set(token, { email, expiresAt });
    this.issuedTokens.push(token);
    return jsonReply(200, {
      accessToken: token,
      expireTime: new Date(expiresAt * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
    });
  }

  /** Who an access token this emulator issued stands for (the service account, or the federated principal). */
  whoIs(token: string): string | undefined {
    const impersonated = this.impersonated.get(token);
    if (impersonated) return impersonated.email;
    const federated = this.federated.get(token);
    if (!federated) return undefined;
    const pool = federated.provider.name.replace(/\/providers\/[^/]+$/, '');
    return `principal://iam.googleapis.com/${pool}/subject/${federated.subject}`;
  }

  private stsError(status: number, error: string, description: string): HttpReply {
    return jsonReply(status, { error, error_description: description });
  }

  private rpcError(code: number, status: string, message: string, details?: object[]): HttpReply {
    return jsonReply(code, { error: { code, message, status, ...(details ? { details } : {}) } });
  }
}
