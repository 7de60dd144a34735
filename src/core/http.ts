import { HttpClient } from 'typed-rest-client/HttpClient';
import type { IProxyConfiguration, ICertConfiguration } from 'typed-rest-client/Interfaces';
import { TaskFailure } from './errors';

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
}

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
  return {
    async send(request: HttpRequest): Promise<HttpResponse> {
      const response = await client.request(request.method, request.url, request.body, request.headers);
      const body = await readCapped(response.message, request.url);
      return {
        status: response.message.statusCode ?? 0,
        headers: flattenHeaders(response.message.headers),
        body,
      };
    },
  };
}
