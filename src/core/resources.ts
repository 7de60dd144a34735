import { GUID, type Cloud } from './connection';
import { TaskFailure } from './errors';
import { parseUrl, quoteUntrusted } from './text';

/** An extra resource to get an access token for, and the name its variables carry. */
export interface ExtraResource {
  /** Upper-case name part: AZUREWIF_ACCESS_TOKEN_<name>. */
  name: string;
  /** Resource id: a URI without trailing slash, or an application id GUID. */
  resource: string;
}

const ALIASES = ['graph', 'keyvault', 'storage', 'devops'] as const;
const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

function aliasResource(alias: (typeof ALIASES)[number], cloud: Cloud): string | undefined {
  return { graph: cloud.graph, keyvault: cloud.keyVault, storage: cloud.storage, devops: cloud.devops }[
    alias
  ];
}

/** The name part for a resource given without one: its host (URI) or the GUID, as upper-case letters, digits and _. */
export function derivedName(resource: string): string {
  const url = GUID.test(resource) ? undefined : parseUrl(resource);
  const base = url ? `${url.host}${url.pathname}` : resource;
  return base
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toUpperCase();
}

function invalid(entry: string, why: string): TaskFailure {
  return new TaskFailure(
    `The resources input has the entry '${quoteUntrusted(entry, 200)}', which ${why}. ` +
      'List one resource per line or comma-separated: graph, keyvault, storage, devops, a resource URI such as https://database.windows.net, an application id GUID, or NAME=<uri or GUID>.',
  );
}

/** One entry of the resources input, its syntax checked: an alias, or a GUID or https/api URI; maybe named. */
export type ResourceEntry = {
  /** The entry as written, for messages. */
  entry: string;
  /** The NAME= part, when given. */
  givenName?: string;
} & ResourceTarget;

type ResourceTarget =
  | { alias: (typeof ALIASES)[number]; resource?: undefined }
  /** A GUID (lower case) or a URI without trailing slash. */
  | { alias?: undefined; resource: string };

/**
 * Checks the resources input's syntax, with the other inputs and before any request: aliases (graph,
 * keyvault, storage, devops), resource URIs and application id GUIDs, each optionally named as NAME=resource.
 */
export function parseResourceList(text: string | undefined): ResourceEntry[] {
  const entries = (text ?? '')
    .split(/[\n,]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '' && !entry.startsWith('#'));
  return entries.map((entry) => {
    const eq = entry.indexOf('=');
    const givenName = eq > 0 ? entry.slice(0, eq).trim() : undefined;
    const value = (eq > 0 ? entry.slice(eq + 1) : entry).trim();
    const target = parseTarget(entry, value);
    if (givenName !== undefined && !NAME.test(givenName)) {
      throw invalid(entry, 'has a name that is not letters, digits and _ starting with a letter');
    }
    return { entry, givenName, ...target };
  });
}

/** What one entry names: an alias, an application id GUID, or an https/api URI. */
function parseTarget(entry: string, value: string): ResourceTarget {
  const alias = ALIASES.find((a) => a === value.toLowerCase());
  if (alias) return { alias };
  if (GUID.test(value)) return { resource: value.toLowerCase() };
  const url = parseUrl(value);
  if (!url) throw invalid(entry, 'is not an alias, a URI or a GUID');
  if (!['https:', 'api:'].includes(url.protocol)) throw invalid(entry, 'is not an https or api:// URI');
  return { resource: value.replace(/\/+$/, '') };
}

/**
 * The resources for the connection's cloud (known once Azure Stack Hub's metadata is read): each alias
 * becomes that cloud's URI, and names and resources must be unique.
 */
export function resolveResources(entries: readonly ResourceEntry[], cloud: Cloud): ExtraResource[] {
  const resources: ExtraResource[] = [];
  for (const { entry, givenName, alias, resource: given } of entries) {
    const resource = alias ? aliasResource(alias, cloud) : given;
    if (!resource) throw invalid(entry, `names ${alias}, which the cloud ${cloud.name} does not have`);
    const name = (givenName ?? (alias ? alias : derivedName(resource))).toUpperCase();
    if (resources.some((r) => r.name === name)) throw invalid(entry, `repeats the name ${name}`);
    if (resources.some((r) => r.resource === resource))
      throw invalid(entry, 'repeats a resource listed before');
    resources.push({ name, resource });
  }
  return resources;
}
