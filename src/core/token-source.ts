import type { AzureConnection } from './connection';
import { explainEntraError } from './diagnostics';
import { exchangeForAccessToken, type AccessToken } from './entra';
import { requestIdToken, type IdToken, type OidcEndpoint } from './idtoken';
import { systemClock, withRetry } from './retry';
import type { ServiceDependencies } from './services';

export interface TokenSourceOptions {
  connection: AzureConnection;
  endpoint: OidcEndpoint;
  /** Checked by the caller: present, and bound for the job's own collection (job-token-origin.ts). */
  jobAccessToken: string;
  /** How the retry log names an idToken request. */
  idTokenActivity?: string;
  /** Called with each new idToken once it is registered (the command and the renewer renew the token file with it). */
  onIdToken?: (idToken: IdToken) => void;
}

/** Entra checks exp against its own clock; an assertion with less than this left is replaced first. */
const ASSERTION_FRESHNESS_MS = 60_000;

/**
 * idTokens from Azure DevOps and access tokens from Entra ID for one connection, each call retried under
 * the policy: the one place the step, azure-wif-token and the renewer get their tokens from.
 */
export class TokenSource {
  private current: IdToken | undefined;
  /** Whether `current` was fetched and not yet offered to Entra: a fresh one is never refetched. */
  private unused = false;

  constructor(
    private readonly options: TokenSourceOptions,
    private readonly deps: ServiceDependencies,
  ) {}

  /** The idToken fetched last, which the exchange used or will use. */
  get latest(): IdToken | undefined {
    return this.current;
  }

  /** A new idToken from Azure DevOps. */
  async idToken(): Promise<IdToken> {
    const { deps, options } = this;
    const clock = deps.clock ?? systemClock;
    const idToken = await withRetry(
      options.idTokenActivity ?? 'Requesting the idToken from Azure DevOps',
      () =>
        requestIdToken(
          {
            transport: deps.transport,
            endpoint: options.endpoint,
            jobAccessToken: options.jobAccessToken,
            registerSecret: deps.registerSecret,
            logger: deps.logger,
            now: clock.now,
          },
          options.connection.id,
        ),
      deps.retryPolicy,
      deps.logger,
      clock,
    );
    this.current = idToken;
    this.unused = true;
    options.onIdToken?.(idToken);
    return idToken;
  }

  /**
   * An Entra access token for `resource`. The assertion is the latest idToken while it has time left (a
   * retry or the next resource reuses it) and a new one when it has not, or when there is none yet.
   */
  async accessToken(resource: string): Promise<AccessToken> {
    const { deps, options } = this;
    const clock = deps.clock ?? systemClock;
    const getAssertion = async (): Promise<string> => {
      const current = this.current;
      const fresh =
        current !== undefined &&
        (this.unused || current.claims.exp * 1000 - clock.now() >= ASSERTION_FRESHNESS_MS);
      const assertion = fresh ? current : await this.idToken();
      this.unused = false;
      return assertion.token;
    };
    return withRetry(
      'Exchanging the idToken at Entra ID',
      () =>
        exchangeForAccessToken(
          {
            transport: deps.transport,
            connection: options.connection,
            getAssertion,
            registerSecret: deps.registerSecret,
            logger: deps.logger,
          },
          resource,
          (error) => explainEntraError(error, options.connection, this.current?.claims),
        ),
      deps.retryPolicy,
      deps.logger,
      clock,
    );
  }
}
