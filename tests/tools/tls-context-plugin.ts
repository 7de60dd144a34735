import * as fs from 'node:fs';
import type { Plugin } from 'esbuild';

/**
 * typed-rest-client hands its certificate settings (the agent's CA bundle, client certificate) to every new
 * connection as `ca`/`cert`/`key`, so Node builds a new TLS context, parsing every certificate of the bundle,
 * for each connection: ≈25 ms per connection for the system roots plus the agent's CA. This makes the client
 * build that context once, from exactly the same settings, and give it to each connection as `secureContext`
 * (which Node uses instead of building one; the tunnel agent passes it through a proxy too). If the settings
 * cannot make a context, nothing is shared and each connection fails building its own, exactly as before.
 * If typed-rest-client changes the line, the build fails rather than silently losing the patch.
 */
export const CERT_AGENT_OPTIONS =
  'agent.options = Object.assign(agent.options || {}, { ca: this._ca, cert: this._cert, key: this._key, passphrase: this._certConfig.passphrase });';

export const SHARED_CONTEXT_AGENT_OPTIONS =
  'agent.options = Object.assign(agent.options || {}, { ca: this._ca, cert: this._cert, key: this._key, passphrase: this._certConfig.passphrase }, __sharedSecureContext(this));';

export const SHARED_CONTEXT_HELPER = `
function __sharedSecureContext(client) {
    if (client.__sharedSecureContext === undefined) {
        try {
            client.__sharedSecureContext = { secureContext: require("tls").createSecureContext({ ca: client._ca, cert: client._cert, key: client._key, passphrase: client._certConfig.passphrase }) };
        }
        catch (_a) {
            client.__sharedSecureContext = {};
        }
    }
    return client.__sharedSecureContext;
}
`;

export function shareSecureContext(source: string): string {
  const occurrences = source.split(CERT_AGENT_OPTIONS).length - 1;
  if (occurrences !== 1) {
    throw new Error(
      `typed-rest-client/HttpClient.js has ${occurrences} copies of the line that passes the certificate settings to each connection, not 1; review tests/tools/tls-context-plugin.ts`,
    );
  }
  return source.replace(CERT_AGENT_OPTIONS, SHARED_CONTEXT_AGENT_OPTIONS) + SHARED_CONTEXT_HELPER;
}

export const shareTlsContext: Plugin = {
  name: 'share-tls-context',
  setup(build) {
    build.onLoad({ filter: /typed-rest-client[\\/]HttpClient\.js$/ }, (args) => ({
      contents: shareSecureContext(fs.readFileSync(args.path, 'utf8')),
      loader: 'js',
    }));
  },
};
