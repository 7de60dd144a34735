import type { Cloud } from './connection';
import { TaskFailure, TransientFailure } from './errors';
import type { HttpTransport } from './http';
import { supportIds } from './idtoken';
import type { Logger } from './logger';
import { isTransientStatus } from './retry';
import { parseUrl, quoteUntrusted } from './text';

/**
 * Reads an Azure Stack Hub's Resource Manager metadata (`metadata/endpoints`) for its Entra authority and
 * Resource Manager audience, as Microsoft's Azure tasks do. AD FS stamps cannot federate with Azure DevOps.
 */
export async function discoverAzureStackCloud(
  cloud: Cloud,
  connectionId: string,
  transport: HttpTransport,
  logger: Logger,
): Promise<Cloud> {
  if (!cloud.metadataUrl) return cloud;
  const url = cloud.metadataUrl;
  const response = await transport.send({
    method: 'GET',
    url,
    headers: { Accept: 'application/json' },
    body: '',
  });
  logger.debug(`GET ${url} -> HTTP ${response.status}; headers: ${Object.keys(response.headers).join(', ')}`);
  const fail = (why: string) =>
    new TaskFailure(
      `Could not read the Azure Stack Hub metadata of service connection ${connectionId} at ${url}: ${why}${supportIds(response)}. ` +
        "Check the connection's Resource Manager URL, or set its activeDirectoryAuthority and activeDirectoryServiceEndpointResourceId data fields.",
    );
  if (isTransientStatus(response.status)) {
    throw new TransientFailure(
      fail(`HTTP ${response.status}`).message,
      `HTTP ${response.status} from ${new URL(url).host}`,
    );
  }
  if (response.status !== 200) throw fail(`HTTP ${response.status}`);
  let metadata: unknown;
  try {
    metadata = JSON.parse(response.body);
  } catch {
    throw fail('the answer is not JSON');
  }
  const authentication = (metadata as { authentication?: { loginEndpoint?: unknown; audiences?: unknown } })
    ?.authentication;
  const login = authentication?.loginEndpoint;
  const audience = Array.isArray(authentication?.audiences) ? authentication.audiences[0] : undefined;
  if (typeof login !== 'string' || typeof audience !== 'string') {
    throw fail('it names no authentication.loginEndpoint and audiences');
  }
  const loginUrl = parseUrl(login);
  if (!loginUrl) throw fail(`its loginEndpoint '${quoteUntrusted(login, 200)}' is not a URL`);
  if (/\/adfs\/?$/i.test(loginUrl.pathname)) {
    throw new TaskFailure(
      `Service connection ${connectionId} targets an Azure Stack Hub that uses AD FS (${quoteUntrusted(login, 200)}), which cannot federate with Azure DevOps. ` +
        "Use a service connection to an Azure Stack Hub that uses Microsoft Entra ID, or a secret-based connection with Microsoft's Azure tasks.",
    );
  }
  if (loginUrl.protocol !== 'https:')
    throw fail(`its loginEndpoint '${quoteUntrusted(login, 200)}' is not https`);
  const authorityHost = `${loginUrl.origin}/`;
  // Used verbatim, as Microsoft's tasks use audiences[0]: Resource Manager matches the audience exactly.
  const resourceManager = audience;
  logger.info(
    `Azure Stack Hub: authority ${authorityHost}, Resource Manager audience ${quoteUntrusted(resourceManager, 200)}.`,
  );
  return { ...cloud, authorityHost, resourceManager, metadataUrl: undefined };
}
