/**
 * HTTP plumbing shared by the emulator's handlers: the reply type every handler returns, scripted responses,
 * and the request log entry.
 */
import type { EndpointKind } from './model';

/** What a handler answers; the server writes it (after the injected latency). */
export interface HttpReply {
  status: number;
  headers: Record<string, string | string[]>;
  body: string;
}

/** A request as handlers, scripts and the request log see it. */
export interface RequestInfo {
  method: string;
  /** Path without the query string, percent-decoding left to handlers. */
  path: string;
  query: Record<string, string>;
  /** Header names lower-cased; repeated headers joined with ', '. */
  headers: Record<string, string>;
  /** Raw request body. */
  body: string;
}

export interface RequestLogEntry extends RequestInfo {
  time: Date;
  /** HTTP status sent; 0 when the request was dropped or left hanging. */
  status: number;
  kind: EndpointKind;
  /** True when a scripted response or failure preset answered instead of the normal handler. */
  scripted: boolean;
}

/**
 * One scripted answer, consumed by one request of its endpoint kind before normal handling.
 * - `drop`: destroy the socket without answering (client sees ECONNRESET / "socket hang up").
 * - `hang`: never answer (until stop()).
 * - no `status`, `body`, `drop` or `hang`: only wait `delayMs`, then handle the request normally.
 * Otherwise the emulator answers `status` (default 200) with `body` (objects are sent as JSON) and the
 * endpoint's usual headers (e.g. `x-vss-e2eid`) overlaid with `headers`.
 */
export interface ScriptedResponse {
  status?: number;
  /** A string[] value sends the header several times (e.g. several WWW-Authenticate challenges). */
  headers?: Record<string, string | string[]>;
  body?: string | object;
  delayMs?: number;
  drop?: boolean;
  hang?: boolean;
  /** Send the headers (with the full Content-Length) and half the body, then close the connection. */
  truncate?: boolean;
}

/** A scripted answer, or a function building it from the request it answers. */
export type ScriptEntry = ScriptedResponse | ((request: RequestInfo) => ScriptedResponse);

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';
export const HTML_CONTENT_TYPE = 'text/html; charset=utf-8';

export function jsonReply(
  status: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): HttpReply {
  return { status, headers: { 'content-type': JSON_CONTENT_TYPE, ...headers }, body: JSON.stringify(body) };
}

export function htmlReply(
  status: number,
  html: string,
  headers: Record<string, string | string[]> = {},
): HttpReply {
  return { status, headers: { 'content-type': HTML_CONTENT_TYPE, ...headers }, body: html };
}

/** Turns a scripted response into a reply, on top of the endpoint's base headers. */
export function scriptedReply(
  s: ScriptedResponse,
  baseHeaders: Record<string, string | string[]>,
): HttpReply {
  const headers: Record<string, string | string[]> = { ...baseHeaders };
  let body = '';
  if (typeof s.body === 'string') {
    body = s.body;
    if (!hasHeader(s.headers, 'content-type') && body.length > 0) {
      headers['content-type'] = body.trimStart().startsWith('<')
        ? HTML_CONTENT_TYPE
        : 'text/plain; charset=utf-8';
    }
  } else if (s.body !== undefined) {
    body = JSON.stringify(s.body);
    headers['content-type'] = JSON_CONTENT_TYPE;
  }
  for (const [name, value] of Object.entries(s.headers ?? {})) {
    headers[name.toLowerCase()] = value;
  }
  return { status: s.status ?? 200, headers, body };
}

/** True when a scripted entry only delays the request and then lets the normal handler answer. */
export function isPassThrough(s: ScriptedResponse): boolean {
  return s.status === undefined && s.body === undefined && !s.drop && !s.hang;
}

function hasHeader(headers: Record<string, string | string[]> | undefined, name: string): boolean {
  return Object.keys(headers ?? {}).some((h) => h.toLowerCase() === name);
}

export function parseQuery(search: URLSearchParams): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [k, v] of search) {
    if (!(k in query)) {
      query[k] = v;
    }
  }
  return query;
}

export function flattenHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value !== undefined) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
    }
  }
  return headers;
}

export function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
