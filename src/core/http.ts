import * as diagnostics from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { HttpClient } from 'typed-rest-client/HttpClient';
import type { IProxyConfiguration, ICertConfiguration } from 'typed-rest-client/Interfaces';

/** typed-rest-client's settings types, for the rest of the task: this module is the only one that imports it. */
export type { IProxyConfiguration, ICertConfiguration };
import { describeError, TaskFailure, TransientFailure } from './errors';
import { quoteUntrusted } from './text';

export interface HttpResponse {
  status: number;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  body: string;
}

export interface HttpRequest {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** The one HTTP stack both services are called through, so proxy and CA settings apply to both. */
export interface HttpTransport {
  send(request: HttpRequest): Promise<HttpResponse>;
}

export interface TransportOptions {
  userAgent: string;
  proxy?: IProxyConfiguration;
  cert?: ICertConfiguration;
  /** Socket inactivity timeout per request. */
  timeoutMs: number;
  /**
   * Work done once, when the first request has been sent and the task waits for its answer, instead of before
   * sending it: e.g. loading what the next step needs (src/pipeline/step.ts loads MSAL). If it throws, nothing happens;
   * whoever needs the work done later does it again and sees the error.
   */
  whileWaiting?: () => void;
}

/** Node publishes each client request here when it starts sending it (node:diagnostics_channel, Node ≥ 18.7). */
const REQUEST_START_CHANNEL = 'http.client.request.start';

/** Responses larger than this are a misbehaving server or proxy, never a token. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

function flattenHeaders(raw: NodeJS.Dict<string | string[]>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

async function readCapped(stream: NodeJS.ReadableStream & { destroy(): void }, url: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += buffer.length;
    if (size > MAX_RESPONSE_BYTES) {
      stream.destroy();
      throw new TaskFailure(
        `The response from ${url} was larger than ${MAX_RESPONSE_BYTES} bytes, which no token response is. ` +
          'Check that no proxy or gateway between the agent and the service rewrites the response.',
      );
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const TLS_TRUST_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Failures of the connection itself, which another attempt may not meet (Node's and libuv's codes). */
const NETWORK_ERRORS = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'ERR_TLS_HANDSHAKE_TIMEOUT',
]);

/**
 * Turns a failed request into what the author can act on: definitive for trust and name problems, transient for
 * network-level failures, and anything else (a bug, such as a TypeError) passed on as it is, so it is reported
 * as unexpected instead of being retried until the deadline.
 */
export function networkFailure(error: unknown, url: string): unknown {
  if (error instanceof TaskFailure) return error;
  const host = new URL(url).host;
  const code = errorCode(error);
  const message = describeError(error);
  if (code && TLS_TRUST_ERRORS.has(code)) {
    return new TaskFailure(
      `The agent does not trust the TLS certificate of ${host} (${code}). ` +
        'If the agent reaches it through a TLS-inspecting proxy or it is an Azure DevOps Server with a private CA, configure the agent with that CA ' +
        "(config.sh/config.cmd --sslcacert <file>, which sets Agent.CAInfo) or add the CA to the machine's trust store.",
    );
  }
  if (code === 'ENOTFOUND') {
    return new TaskFailure(
      `The agent could not resolve the host name ${host} (ENOTFOUND). ` +
        "Check the agent machine's DNS settings, and the connection's authority URL if the host is an Entra authority.",
    );
  }
  const proxyStatus = /tunneling socket could not be established, statusCode=(\d+)/.exec(message);
  if (proxyStatus && proxyStatus[1] === '407') {
    return new TaskFailure(
      `The agent's proxy refused to connect to ${host} because it wants credentials (HTTP 407). ` +
        'Configure the proxy user name and password on the agent (config.sh/config.cmd --proxyusername/--proxypassword).',
    );
  }
  const networkLevel =
    proxyStatus !== null ||
    (code !== undefined && NETWORK_ERRORS.has(code)) ||
    /socket hang up|aborted|tunneling socket/i.test(message);
  if (!networkLevel) return error;
  const cause = proxyStatus
    ? `the proxy answered HTTP ${proxyStatus[1]}`
    : (code ?? quoteUntrusted(message, 200));
  return new TransientFailure(
    `The agent could not complete a request to ${host} (${cause}). ` +
      "Check the agent machine's network and proxy settings (Agent.ProxyUrl) and that the service is reachable from it.",
    `${cause} from ${host}`,
  );
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** typed-rest-client under the agent's proxy and certificate settings; redirects are surfaced, not followed. */
export function createTransport(options: TransportOptions): HttpTransport {
  const client = new HttpClient(options.userAgent, [], {
    proxy: options.proxy,
    cert: options.cert,
    socketTimeout: options.timeoutMs,
    allowRedirects: false,
    allowRetries: false,
    keepAlive: false,
  });
  let pendingWork = options.whileWaiting;
  return {
    async send(request: HttpRequest): Promise<HttpResponse> {
      const host = new URL(request.url).host;
      // The task sends one request at a time, so the first request that starts after this is this one.
      let onStart: ((message: unknown) => void) | undefined;
      if (pendingWork) {
        const work = pendingWork;
        pendingWork = undefined;
        onStart = (message) => {
          diagnostics.unsubscribe(REQUEST_START_CHANNEL, onStart!);
          (message as { request: ClientRequest }).request.once('finish', () => {
            try {
              work();
            } catch {
              // see TransportOptions.whileWaiting
            }
          });
        };
        diagnostics.subscribe(REQUEST_START_CHANNEL, onStart);
      }
      const exchange = async (): Promise<HttpResponse> => {
        const response = await client.request(request.method, request.url, request.body, request.headers);
        const body = await readCapped(response.message, request.url);
        return {
          status: response.message.statusCode ?? 0,
          headers: flattenHeaders(response.message.headers),
          body,
        };
      };
      try {
        return await withTimeout(
          exchange(),
          options.timeoutMs,
          () =>
            new TransientFailure(
              `${host} did not answer within ${options.timeoutMs / 1000} s. ` +
                "Check that the service is reachable from the agent, or raise the task's request timeout (requestTimeoutSeconds).",
              `no answer within ${options.timeoutMs / 1000} s from ${host}`,
            ),
        );
      } catch (error) {
        throw networkFailure(error, request.url);
      } finally {
        if (onStart) diagnostics.unsubscribe(REQUEST_START_CHANNEL, onStart);
      }
    },
  };
}
