import { TaskFailure } from './errors';
import { parseUrl } from './text';

/**
 * The job access token may go only to the Azure DevOps collection that gave it: over https to the collection's
 * own origin and path (System.CollectionUri), or over http only when the collection itself is http (an Azure
 * DevOps Server on http). On Azure DevOps Services System.OidcRequestUri sits under the collection URI, e.g.
 * https://dev.azure.com/<org>/<project id>/_apis/distributedtask/hubs/build/plans/<plan>/jobs/<job>/oidctoken
 * (a measured value in gravitational/teleport rfd/0211-azure-devops-joining.md); the fallback route is built
 * from the collection URI itself (src/core/idtoken.ts). An organization reached both as
 * https://<org>.visualstudio.com/ and https://dev.azure.com/<org>/ is one collection (unconfirmed which form a
 * visualstudio.com organization's System.OidcRequestUri uses), so either form is accepted for the other.
 */
export function assertJobTokenDestination(url: string, collectionUri: string | undefined): void {
  const refuse = (why: string): never => {
    throw new TaskFailure(
      `The task will not send the job access token to ${safeForLog(url)}: ${why}. ` +
        'Run the task on an agent of the Azure DevOps organization or collection the job belongs to, and do not override System.OidcRequestUri or System.CollectionUri.',
    );
  };
  if (!collectionUri)
    return refuse('the agent did not say which collection the job belongs to (System.CollectionUri)');
  const target = parseUrl(url);
  if (!target) return refuse('it is not a URL');
  const collection = parseUrl(collectionUri);
  if (!collection) return refuse(`the collection URI ${safeForLog(collectionUri)} is not a URL`);
  if (collection.protocol !== 'https:' && collection.protocol !== 'http:') {
    return refuse(`the collection URI ${safeForLog(collectionUri)} is neither https nor http`);
  }
  if (target.username || target.password) return refuse('it carries a user name or password');
  if (target.protocol !== 'https:' && !(target.protocol === 'http:' && collection.protocol === 'http:')) {
    return refuse('it is not https');
  }
  const allowed = [collection, ...equivalentCollections(collection)];
  if (!allowed.some((base) => isUnder(target, base))) {
    return refuse(`it is not under the job's collection ${safeForLog(collection.href)}`);
  }
}

function safeForLog(value: string): string {
  // eslint-disable-next-line no-control-regex
  return `'${value.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').slice(0, 300)}'`;
}

function isUnder(target: URL, base: URL): boolean {
  if (target.protocol !== base.protocol || target.host !== base.host) return false;
  const prefix = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  return target.pathname.toLowerCase().startsWith(prefix.toLowerCase());
}

/** The other URL form of an Azure DevOps Services organization: <org>.visualstudio.com ⇄ dev.azure.com/<org>. */
function equivalentCollections(collection: URL): URL[] {
  if (collection.protocol !== 'https:' || collection.port !== '') return [];
  const host = collection.hostname.toLowerCase();
  const legacy = /^([a-z0-9][a-z0-9-]*)\.visualstudio\.com$/.exec(host);
  if (legacy && collection.pathname === '/') return [new URL(`https://dev.azure.com/${legacy[1]}/`)];
  const modern = /^\/([a-z0-9][a-z0-9-]*)\/?$/i.exec(collection.pathname);
  if (host === 'dev.azure.com' && modern)
    return [new URL(`https://${modern[1].toLowerCase()}.visualstudio.com/`)];
  return [];
}
