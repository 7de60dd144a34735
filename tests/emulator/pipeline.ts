/**
 * The emulator's request pipeline: read the request, match a route, record it in the request log, take the
 * scripted answer or transient fault queued for its endpoint kind (before any injected delay), then answer with
 * the handler's reply and the service's headers. Scripts, presets and transient faults live in ScriptBook.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AzureDevOps } from './azure-devops';
import type { Entra } from './entra';
import {
  delay,
  flattenHeaders,
  htmlReply,
  isPassThrough,
  parseQuery,
  scriptedReply,
  type HttpReply,
  type RequestInfo,
  type RequestLogEntry,
  type ScriptEntry,
  type ScriptedResponse,
} from './http';
import { isGuid, newGuid } from './ids';
import { ENDPOINT_KINDS, sameId, type EndpointKind, type ResolvedEmulatorOptions } from './model';
import type { Preset, PresetTools } from './presets';
import type { ResourceManager } from './resource-manager';
import { readBody, safeDecode, type RequestContext, type Route, type Service } from './shared';

type QueuedScript = { entry: ScriptEntry } | { preset: Preset };

/** Scripted responses, failure presets and transient faults, consumed per endpoint kind. */
export class ScriptBook {
  private readonly scripts = new Map<EndpointKind, QueuedScript[]>();

  setTransientFaults(kinds: EndpointKind[], rate: number, random: () => number): void {
    this.transientFaults = { kinds, rate, random };
  }

  clearTransientFaults(): void {
    this.transientFaults = undefined;
  }

  /** Drops queued scripts and presets (of one kind, or all). */
  clear(kind?: EndpointKind): void {
    if (kind) {
      this.scripts.delete(kind);
    } else {
      this.scripts.clear();
    }
  }

  /** How many scripted responses are still queued for a kind. */
  pending(kind: EndpointKind): number {
    return this.scripts.get(kind)?.length ?? 0;
  }

  /** The scripted answer for the next request of a kind, else maybe a transient fault. */
  next(kind: EndpointKind, info: RequestInfo, tools: () => PresetTools): ScriptedResponse | undefined {
    return this.nextScript(kind, info, tools) ?? this.randomFault(kind);
  }

  private transientFaults?: { kinds: EndpointKind[]; rate: number; random: () => number };

  private randomFault(kind: EndpointKind): ScriptedResponse | undefined {
    const faults = this.transientFaults;
    if (!faults || !faults.kinds.includes(kind) || faults.random() >= faults.rate) return undefined;
    const choices: ScriptedResponse[] = [
      { status: 500, body: { message: 'Internal server error (injected)' } },
      { status: 503, headers: { 'retry-after': '0' }, body: { message: 'Service unavailable (injected)' } },
      { status: 429, headers: { 'retry-after': '0' }, body: { message: 'Too many requests (injected)' } },
      { status: 408, body: { message: 'Request timeout (injected)' } },
      { drop: true },
      { truncate: true },
    ];
    return choices[Math.floor(faults.random() * choices.length)];
  }

  queue(kind: EndpointKind): QueuedScript[] {
    if (!ENDPOINT_KINDS.includes(kind)) {
      throw new Error(`Unknown endpoint kind '${kind}'`);
    }
    let q = this.scripts.get(kind);
    if (!q) {
      q = [];
      this.scripts.set(kind, q);
    }
    return q;
  }

  private nextScript(
    kind: EndpointKind,
    info: RequestInfo,
    tools: () => PresetTools,
  ): ScriptedResponse | undefined {
    const next = this.scripts.get(kind)?.shift();
    if (!next) {
      return undefined;
    }
    if ('preset' in next) {
      return next.preset(tools());
    }
    return typeof next.entry === 'function' ? next.entry(info) : next.entry;
  }
}

/** What the pipeline needs from the emulator. */
export interface PipelineDeps {
  url: string;
  state: ResolvedEmulatorOptions;
  requests: RequestLogEntry[];
  routes: Route[];
  scripts: ScriptBook;
  hung: Set<ServerResponse>;
  isStopped(): boolean;
  ado: AzureDevOps;
  entra: Entra;
  arm: ResourceManager;
  presetTools(ctx: RequestContext): PresetTools;
}

export class RequestPipeline {
  constructor(private readonly d: PipelineDeps) {}

  async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.process(req, res);
    } catch (err) {
      // A bug in the emulator or in a test's script function, not a simulated failure: say so plainly.
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`Emulator error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
    }
  }

  private async process(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: string;
    try {
      body = await readBody(req);
    } catch {
      req.socket.destroy();
      return;
    }
    const parsed = new URL(req.url ?? '/', this.d.url);
    const info: RequestInfo = {
      method: req.method ?? 'GET',
      path: parsed.pathname,
      query: parseQuery(parsed.searchParams),
      headers: flattenHeaders(req.headers),
      body,
    };
    const { route, params } = this.match(info.path);
    const kind: EndpointKind = route?.kind ?? 'other';
    const entry: RequestLogEntry = { time: new Date(), ...info, status: 0, kind, scripted: false };
    this.d.requests.push(entry);
    const ctx: RequestContext = {
      info,
      traceId: newGuid(),
      correlationId: isGuid(info.headers['client-request-id'] ?? '')
        ? info.headers['client-request-id']
        : newGuid(),
      e2eId: newGuid(),
    };

    // Take the scripted answer in arrival order, before any injected delay.
    const scripted = this.d.scripts.next(kind, info, () => this.d.presetTools(ctx));
    await delay(this.d.state.latencyMs + (scripted?.delayMs ?? 0));
    if (this.d.isStopped()) {
      req.socket.destroy();
      return;
    }
    if (scripted?.drop) {
      entry.scripted = true;
      this.emitLog(entry, 'dropped');
      req.socket.destroy();
      return;
    }
    if (scripted?.hang) {
      entry.scripted = true;
      this.d.hung.add(res);
      res.on('close', () => this.d.hung.delete(res));
      this.emitLog(entry, 'hanging');
      return;
    }

    let reply: HttpReply;
    if (scripted && !isPassThrough(scripted)) {
      entry.scripted = true;
      reply = scriptedReply(scripted, this.baseHeaders(route?.service ?? 'none', ctx));
    } else if (route) {
      reply = this.safeHandle(route, ctx, params);
    } else {
      // An unknown Azure DevOps URL still carries the service's headers (x-vss-e2eid on every response).
      const first = info.path.split('/')[1] ?? '';
      const ado = info.path.includes('/_apis/') || sameId(safeDecode(first), this.d.state.organizationName);
      reply = htmlReply(
        404,
        '<html><body><h1>404 Not Found</h1></body></html>',
        ado ? this.d.ado.adoHeaders(ctx) : {},
      );
    }
    entry.status = reply.status;
    this.emitLog(entry, scripted?.truncate ? 'truncated' : undefined);
    res.writeHead(reply.status, {
      ...reply.headers,
      'content-length': String(Buffer.byteLength(reply.body)),
    });
    if (scripted?.truncate) {
      const bytes = Buffer.from(reply.body);
      res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => res.destroy());
      return;
    }
    res.end(reply.body);
  }

  private match(path: string): { route?: Route; params: string[] } {
    for (const route of this.d.routes) {
      const m = route.pattern.exec(path);
      if (m) {
        return { route, params: m.slice(1).map(safeDecode) };
      }
    }
    return { params: [] };
  }

  private safeHandle(route: Route, ctx: RequestContext, params: string[]): HttpReply {
    try {
      return route.handle(ctx, params);
    } catch (err) {
      // A bug in the emulator, not a simulated failure: say so plainly.
      const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
      return {
        status: 500,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: `Emulator error: ${message}`,
      };
    }
  }

  private emitLog(entry: RequestLogEntry, outcome?: string): void {
    const log = this.d.state.log;
    if (!log) {
      return;
    }
    // Path only: no query, headers or body, so neither the job token nor any JWT can reach the log.
    const status = outcome ? `${entry.status} (${outcome})` : String(entry.status);
    log(
      `${entry.time.toISOString()} ${entry.method} ${entry.path} ${status} ${entry.kind}${entry.scripted ? ' [scripted]' : ''}`,
    );
  }

  private baseHeaders(service: Service, c: RequestContext): Record<string, string | string[]> {
    if (service === 'ado') {
      return this.d.ado.adoHeaders(c);
    }
    if (service === 'arm') {
      return this.d.arm.armHeaders(c);
    }
    return service === 'entra' ? this.d.entra.entraHeaders(c) : {};
  }
}
