/**
 * HashiCorp Vault's JWT auth method as the task and the vault CLI meet it: `POST /v1/auth/<path>/login`
 * `{role, jwt}` (namespace in X-Vault-Namespace) and `GET /v1/auth/token/lookup-self` with X-Vault-Token.
 *
 * Trust model, as vault-plugin-auth-jwt has it: the mount's config names the issuer (oidc_discovery_url /
 * bound_issuer, whose keys verify the signature); a role binds audiences (bound_audiences) and a subject
 * (bound_subject) and carries token policies and a TTL.
 *
 * Bodies are Vault's `{"errors":[…]}`. "permission denied" (403) and `role "<name>" could not be found` (400) are
 * Vault's words; "sub claim does not match bound subject" is vault-plugin-auth-jwt's (path_login.go); the wordings
 * for audience, issuer, signature and expiry follow go-jose/cap errors and are inferred.
 */
import { randomBytes } from 'node:crypto';
import { jsonReply, type HttpReply, type RequestInfo } from './http';
import { newGuid } from './ids';
import { checkIdToken, type IssuerKeys } from './relying-party';

export interface VaultJwtRole {
  name: string;
  boundAudiences: string[];
  boundSubject: string;
  policies: string[];
  /** Token TTL in seconds. Default 1200. */
  ttl?: number;
}

export interface VaultJwtMount {
  /** Mount path under auth/, e.g. jwt. */
  path: string;
  /** '' for the root namespace. */
  namespace: string;
  /** bound_issuer / oidc_discovery_url. */
  issuer: string;
  roles: VaultJwtRole[];
}

interface VaultToken {
  accessor: string;
  policies: string[];
  namespace: string;
  path: string;
  role: string;
  subject: string;
  expiresAt: number;
  ttl: number;
}

export class VaultEmulator {
  readonly mounts: VaultJwtMount[] = [];
  /** Every client token issued, for leak scans. */
  readonly issuedTokens: string[] = [];
  private readonly tokens = new Map<string, VaultToken>();

  constructor(private readonly issuers: IssuerKeys) {}

  /** What `vault auth enable jwt` + `vault write auth/jwt/config` + `vault write auth/jwt/role/<role>` set up. */
  addRole(
    role: string,
    issuer: string,
    subject: string,
    options: {
      path?: string;
      namespace?: string;
      audiences?: string[];
      policies?: string[];
      ttl?: number;
    } = {},
  ): void {
    const path = options.path ?? 'jwt';
    const namespace = options.namespace ?? '';
    let mount = this.mounts.find((m) => m.path === path && m.namespace === namespace);
    if (!mount) {
      mount = { path, namespace, issuer, roles: [] };
      this.mounts.push(mount);
    }
    mount.roles = mount.roles.filter((r) => r.name !== role);
    mount.roles.push({
      name: role,
      boundAudiences: options.audiences ?? ['api://AzureADTokenExchange'],
      boundSubject: subject,
      policies: options.policies ?? ['default', 'deploy'],
      ttl: options.ttl,
    });
  }

  /** POST /v1/auth/<path>/login */
  handleLogin(info: RequestInfo, path: string): HttpReply {
    const namespace = (info.headers['x-vault-namespace'] ?? '').replace(/^\/+|\/+$/g, '');
    const mount = this.mounts.find((m) => m.path === path && m.namespace === namespace);
    if (info.method !== 'POST' && info.method !== 'PUT') return this.errors(405, []);
    if (!mount) return this.errors(403, ['permission denied']);
    let body: { role?: unknown; jwt?: unknown };
    try {
      body = JSON.parse(info.body) as typeof body;
    } catch {
      return this.errors(400, ['failed to parse JSON input: invalid character']);
    }
    if (typeof body.role !== 'string' || body.role === '') return this.errors(400, ['missing role']);
    const role = mount.roles.find((r) => r.name === body.role);
    if (!role) return this.errors(400, [`role "${body.role}" could not be found`]);
    if (typeof body.jwt !== 'string' || body.jwt === '') return this.errors(400, ['missing token']);
    const check = checkIdToken(body.jwt, this.issuers);
    if (!check.ok && check.problem === 'malformed')
      return this.errors(400, ['error validating token: malformed jwt']);
    const iss = check.ok ? check.claims.iss : check.claims?.iss;
    if (iss !== mount.issuer || (!check.ok && check.problem !== 'expired')) {
      return this.errors(400, ['error validating token: failed to verify id token signature']);
    }
    if (!check.ok) return this.errors(400, ['error validating token: token is expired']);
    const claims = check.claims;
    if (!claims.aud.some((a) => role.boundAudiences.includes(a))) {
      return this.errors(400, [
        'error validating token: invalid audience (aud) claim: audience claim does not match any expected audience',
      ]);
    }
    if (role.boundSubject !== claims.sub) return this.errors(400, ['sub claim does not match bound subject']);
    const ttl = role.ttl ?? 1200;
    const token = `hvs.${randomBytes(24).toString('base64url')}`;
    const record: VaultToken = {
      accessor: randomBytes(12).toString('base64url'),
      policies: role.policies,
      namespace,
      path: `auth/${path}/login`,
      role: role.name,
      subject: claims.sub,
      expiresAt: this.issuers.nowSeconds() + ttl,
      ttl,
    };
    this.tokens.set(token, record);
    this.issuedTokens.push(token);
    return jsonReply(200, {
      request_id: newGuid(),
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      data: null,
      wrap_info: null,
      warnings: null,
      auth: {
        client_token: token,
        accessor: record.accessor,
        policies: role.policies,
        token_policies: role.policies,
        metadata: { role: role.name },
        lease_duration: ttl,
        renewable: true,
        entity_id: newGuid(),
        token_type: 'service',
        orphan: true,
      },
    });
  }

  /** GET /v1/auth/token/lookup-self */
  handleLookupSelf(info: RequestInfo): HttpReply {
    const token =
      info.headers['x-vault-token'] ?? /^Bearer (.+)$/i.exec(info.headers.authorization ?? '')?.[1];
    const record = token ? this.tokens.get(token) : undefined;
    const namespace = (info.headers['x-vault-namespace'] ?? '').replace(/^\/+|\/+$/g, '');
    if (!record || record.expiresAt <= this.issuers.nowSeconds() || record.namespace !== namespace) {
      return this.errors(403, ['permission denied']);
    }
    return jsonReply(200, {
      request_id: newGuid(),
      data: {
        accessor: record.accessor,
        display_name: `${record.path.split('/')[1]}-${record.subject}`,
        expire_time: new Date(record.expiresAt * 1000).toISOString(),
        meta: { role: record.role },
        path: record.path,
        policies: record.policies,
        ttl: record.expiresAt - this.issuers.nowSeconds(),
        type: 'service',
        namespace_path: record.namespace ? `${record.namespace}/` : '',
      },
    });
  }

  private errors(status: number, errors: string[]): HttpReply {
    return jsonReply(status, { errors });
  }
}
