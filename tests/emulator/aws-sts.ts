/**
 * AWS STS as the task and the AWS SDKs meet it: the Query API (form POST to `/`, XML answers) for
 * AssumeRoleWithWebIdentity (unsigned) and GetCallerIdentity (SigV4 with the session's keys; the emulator checks the
 * access key and session token it issued, not the signature).
 *
 * Trust model, as IAM has it: an account holds IAM OIDC providers (issuer URL + client id list = allowed audiences);
 * a role's trust policy allows `sts:AssumeRoleWithWebIdentity` for a federated provider with StringEquals
 * conditions on `<issuer host/path>:sub` and `:aud`.
 *
 * Error codes and shapes (ErrorResponse/Error/{Type,Code,Message}/RequestId) follow the STS API reference; the
 * wording of "No OpenIDConnect provider found in your account for <iss>", "Incorrect token audience",
 * "Not authorized to perform sts:AssumeRoleWithWebIdentity" and "Token expired: current date/time … must be before
 * the expiration date/time…" is as users report it. The signature failure's wording is inferred.
 */
import { randomBytes } from 'node:crypto';
import type { HttpReply, RequestInfo } from './http';
import { newGuid } from './ids';
import { checkIdToken, formFields, type IssuerKeys } from './relying-party';

export interface AwsOidcProvider {
  /** Account id (12 digits). */
  account: string;
  /** The issuer URL exactly as `aws iam create-open-id-connect-provider --url` took it. */
  url: string;
  /** The allowed audiences (`--client-id-list`). */
  clientIds: string[];
}

export interface AwsRole {
  arn: string;
  /** What the trust policy allows: the provider's issuer and the `:sub` / `:aud` StringEquals conditions. */
  trust: Array<{ issuer: string; subject: string; audience?: string }>;
  /** Seconds; STS refuses a longer DurationSeconds. Default 3600, as IAM's default. */
  maxSessionDuration?: number;
}

interface IssuedSession {
  accessKeyId: string;
  sessionToken: string;
  assumedRoleArn: string;
  assumedRoleId: string;
  account: string;
  expiresAt: number;
}

const XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function hostPath(issuer: string): string {
  return issuer.replace(/^https:\/\//i, '').replace(/\/+$/, '');
}

export class AwsStsEmulator {
  readonly providers: AwsOidcProvider[] = [];
  readonly roles: AwsRole[] = [];
  /** Sessions issued, for GetCallerIdentity (their keys are test secrets). */
  readonly sessions: IssuedSession[] = [];

  constructor(private readonly issuers: IssuerKeys) {}

  /** Sets up what `aws iam create-open-id-connect-provider` and a trust policy would, for one issuer and subject. */
  trust(
    roleArn: string,
    issuer: string,
    subject: string,
    options: { audience?: string; maxSessionDuration?: number } = {},
  ): void {
    const account = /^arn:[^:]+:iam::(\d{12}):/.exec(roleArn)?.[1];
    if (!account) throw new Error(`not a role ARN: ${roleArn}`);
    const audience = options.audience ?? 'api://AzureADTokenExchange';
    const provider = this.providers.find(
      (p) => p.account === account && hostPath(p.url) === hostPath(issuer),
    );
    if (provider) {
      if (!provider.clientIds.includes(audience)) provider.clientIds.push(audience);
    } else {
      this.providers.push({ account, url: issuer, clientIds: [audience] });
    }
    const role = this.roles.find((r) => r.arn === roleArn);
    const statement = { issuer, subject, audience };
    if (role) role.trust.push(statement);
    else
      this.roles.push({ arn: roleArn, trust: [statement], maxSessionDuration: options.maxSessionDuration });
  }

  handle(info: RequestInfo): HttpReply {
    const form = formFields(info.body);
    if (info.method !== 'POST')
      return this.error(400, 'InvalidAction', 'The action or operation requested is invalid.');
    if (form.Version !== '2011-06-15') {
      return this.error(
        400,
        'InvalidAction',
        `Could not find operation ${form.Action ?? ''} for version ${form.Version ?? 'NO_VERSION_SPECIFIED'}`,
      );
    }
    if (form.Action === 'AssumeRoleWithWebIdentity') return this.assumeRole(form);
    if (form.Action === 'GetCallerIdentity') return this.callerIdentity(info);
    return this.error(
      400,
      'InvalidAction',
      `Could not find operation ${form.Action ?? ''} for version 2011-06-15`,
    );
  }

  private assumeRole(form: Record<string, string>): HttpReply {
    for (const name of ['RoleArn', 'RoleSessionName', 'WebIdentityToken']) {
      if (!form[name]) {
        return this.error(
          400,
          'ValidationError',
          `1 validation error detected: Value null at '${name[0].toLowerCase()}${name.slice(1)}' failed to satisfy constraint: Member must not be null`,
        );
      }
    }
    const roleArn = form.RoleArn;
    const account = /^arn:[^:]+:iam::(\d{12}):role\//.exec(roleArn)?.[1];
    const check = checkIdToken(form.WebIdentityToken, this.issuers);
    if (!check.ok && check.problem === 'malformed') {
      return this.error(400, 'InvalidIdentityToken', "Couldn't parse the web identity token.");
    }
    const iss = String(check.ok ? check.claims.iss : check.claims?.iss);
    const provider = this.providers.find((p) => p.account === account && hostPath(p.url) === hostPath(iss));
    if (!provider)
      return this.error(
        400,
        'InvalidIdentityToken',
        `No OpenIDConnect provider found in your account for ${iss}`,
      );
    if (!check.ok && check.problem !== 'expired') {
      return this.error(
        400,
        'InvalidIdentityToken',
        'The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.',
      );
    }
    if (!check.ok) {
      return this.error(
        400,
        'ExpiredTokenException',
        `Token expired: current date/time ${this.issuers.nowSeconds()} must be before the expiration date/time${String(check.claims?.exp)}`,
      );
    }
    const claims = check.claims;
    if (!claims.aud.some((a) => provider.clientIds.includes(a)))
      return this.error(400, 'InvalidIdentityToken', 'Incorrect token audience');
    const role = this.roles.find((r) => r.arn === roleArn);
    const allowed = role?.trust.some(
      (t) =>
        hostPath(t.issuer) === hostPath(claims.iss) &&
        t.subject === claims.sub &&
        claims.aud.includes(t.audience ?? 'api://AzureADTokenExchange'),
    );
    if (!role || !allowed)
      return this.error(403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
    const duration = form.DurationSeconds ? Number(form.DurationSeconds) : 3600;
    if (duration > (role.maxSessionDuration ?? 3600)) {
      return this.error(
        400,
        'ValidationError',
        'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.',
      );
    }
    const roleName = roleArn.split('/').pop() ?? '';
    const roleId = `AROA${randomBytes(8).toString('hex').toUpperCase()}`;
    const session: IssuedSession = {
      accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
      sessionToken: randomBytes(96).toString('base64'),
      assumedRoleArn: roleArn
        .replace(/:iam::/, ':sts::')
        .replace(/:role\/.*$/, `:assumed-role/${roleName}/${form.RoleSessionName}`),
      assumedRoleId: `${roleId}:${form.RoleSessionName}`,
      account: account ?? '',
      expiresAt: this.issuers.nowSeconds() + duration,
    };
    this.sessions.push(session);
    const secret = randomBytes(30).toString('base64');
    return this.xml(
      200,
      `<AssumeRoleWithWebIdentityResponse xmlns="${XMLNS}">
  <AssumeRoleWithWebIdentityResult>
    <Audience>${escapeXml(claims.aud[0])}</Audience>
    <AssumedRoleUser>
      <AssumedRoleId>${escapeXml(session.assumedRoleId)}</AssumedRoleId>
      <Arn>${escapeXml(session.assumedRoleArn)}</Arn>
    </AssumedRoleUser>
    <Provider>arn:aws:iam::${session.account}:oidc-provider/${escapeXml(hostPath(claims.iss))}</Provider>
    <Credentials>
      <AccessKeyId>${session.accessKeyId}</AccessKeyId>
      <SecretAccessKey>${secret}</SecretAccessKey>
      <SessionToken>${session.sessionToken}</SessionToken>
      <Expiration>${new Date(session.expiresAt * 1000).toISOString().replace(/\.\d+Z$/, 'Z')}</Expiration>
    </Credentials>
    <SubjectFromWebIdentityToken>${escapeXml(claims.sub)}</SubjectFromWebIdentityToken>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>${newGuid()}</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`,
    );
  }

  private callerIdentity(info: RequestInfo): HttpReply {
    const keyId = /Credential=([A-Z0-9]+)\//.exec(info.headers.authorization ?? '')?.[1];
    const session = this.sessions.find((s) => s.accessKeyId === keyId);
    if (!session || session.sessionToken !== info.headers['x-amz-security-token']) {
      return this.error(
        403,
        'InvalidClientTokenId',
        'The security token included in the request is invalid.',
      );
    }
    if (this.issuers.nowSeconds() >= session.expiresAt) {
      return this.error(403, 'ExpiredToken', 'The security token included in the request is expired');
    }
    return this.xml(
      200,
      `<GetCallerIdentityResponse xmlns="${XMLNS}">
  <GetCallerIdentityResult>
    <Arn>${escapeXml(session.assumedRoleArn)}</Arn>
    <UserId>${escapeXml(session.assumedRoleId)}</UserId>
    <Account>${session.account}</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata>
    <RequestId>${newGuid()}</RequestId>
  </ResponseMetadata>
</GetCallerIdentityResponse>`,
    );
  }

  private xml(status: number, body: string): HttpReply {
    return { status, headers: { 'content-type': 'text/xml', 'x-amzn-requestid': newGuid() }, body };
  }

  private error(status: number, code: string, message: string): HttpReply {
    return this.xml(
      status,
      `<ErrorResponse xmlns="${XMLNS}">
  <Error>
    <Type>Sender</Type>
    <Code>${code}</Code>
    <Message>${escapeXml(message)}</Message>
  </Error>
  <RequestId>${newGuid()}</RequestId>
</ErrorResponse>`,
    );
  }
}
