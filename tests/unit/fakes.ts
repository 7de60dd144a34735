import {
  parseConnection,
  type AzureConnection,
  type ServiceConnectionFields,
} from '../../src/core/connection';
import type { HttpRequest, HttpResponse, HttpTransport } from '../../src/core/http';
import type { Logger } from '../../src/core/logger';

/** A transport that answers from a script and records what it was asked. */
export class ScriptedTransport implements HttpTransport {
  readonly requests: HttpRequest[] = [];
  constructor(
    private readonly answers: Array<HttpResponse | ((request: HttpRequest) => HttpResponse) | Error>,
  ) {}

  async send(request: HttpRequest): Promise<HttpResponse> {
    this.requests.push(request);
    const answer = this.answers.shift();
    if (answer === undefined) throw new Error(`unexpected request ${request.method} ${request.url}`);
    if (answer instanceof Error) throw answer;
    return typeof answer === 'function' ? answer(request) : answer;
  }
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  };
}

export class RecordingLogger implements Logger {
  readonly lines: Array<{ level: 'info' | 'warn' | 'debug'; message: string }> = [];
  info(message: string): void {
    this.lines.push({ level: 'info', message });
  }
  warn(message: string): void {
    this.lines.push({ level: 'warn', message });
  }
  debug(message: string): void {
    this.lines.push({ level: 'debug', message });
  }
  at(level: 'info' | 'warn' | 'debug'): string[] {
    return this.lines.filter((line) => line.level === level).map((line) => line.message);
  }
}

/** An unsigned JWT-shaped token with the given claims (the task decodes, Entra verifies). */
export function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT', kid: 'k' })}.${part(claims)}.c2lnbmF0dXJl`;
}

export const NOW_SECONDS = 1_900_000_000;

export function idTokenClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: 'https://login.microsoftonline.com/66666666-7777-8888-9999-000000000000/v2.0',
    sub: '/eid1/c/pub/t/abc/a/def/sc/org/conn',
    aud: 'api://AzureADTokenExchange',
    iat: NOW_SECONDS - 10,
    exp: NOW_SECONDS + 590,
    ...overrides,
  };
}

export const CLIENT_ID = '11111111-2222-3333-4444-555555555555';
export const TENANT_ID = '66666666-7777-8888-9999-000000000000';

/** A workload identity federation connection for CLIENT_ID in TENANT_ID, as the core parses the agent's fields. */
export function wifConnection(fields: Partial<ServiceConnectionFields> = {}): AzureConnection {
  return parseConnection({
    id: 'c0ffee00-1111-2222-3333-444444444444',
    scheme: 'WorkloadIdentityFederation',
    authParameters: { serviceprincipalid: CLIENT_ID, tenantid: TENANT_ID },
    data: {},
    ...fields,
  });
}
