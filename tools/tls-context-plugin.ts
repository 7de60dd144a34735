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
 *
 * The context itself: the task's CA bundle is Node's bundled roots followed by the agent's CA (src/pipeline/agent.ts,
 * readCertConfiguration). Handing that as `ca` makes Node add each of the ~145 roots one by one (OpenSSL
 * re-sorts its store and client-CA list on every add): ≈25 ms on Node 20, ≈5 ms on Node 24, the largest
 * single cost of a run (`node --cpu-prof`: node:internal/tls/secure-context). Node's default context already
 * holds those roots (parsed once, in C++), and adding a CA to it gives the context its own copy of the
 * bundled roots plus that CA: the same trust, in ≈1 ms. The shortcut is taken only when the bundle starts
 * with exactly tls.rootCertificates and the default store is exactly those roots (no NODE_EXTRA_CA_CERTS,
 * --use-openssl-ca or --use-system-ca, no Node built to use OpenSSL's store); anything else takes `ca` as before.
 */
export const CERT_AGENT_OPTIONS =
  'agent.options = Object.assign(agent.options || {}, { ca: this._ca, cert: this._cert, key: this._key, passphrase: this._certConfig.passphrase });';

export const SHARED_CONTEXT_AGENT_OPTIONS =
  'agent.options = Object.assign(agent.options || {}, { ca: this._ca, cert: this._cert, key: this._key, passphrase: this._certConfig.passphrase }, __sharedSecureContext(this));';

export const SHARED_CONTEXT_HELPER = `
function __sharedSecureContext(client) {
    if (client.__sharedSecureContext === undefined) {
        try {
            client.__sharedSecureContext = { secureContext: __buildSecureContext(client) };
        }
        catch (_a) {
            client.__sharedSecureContext = {};
        }
    }
    return client.__sharedSecureContext;
}
function __buildSecureContext(client) {
    const tls = require("tls");
    const options = { cert: client._cert, key: client._key, passphrase: client._certConfig.passphrase };
    if (typeof client._ca === "string" && __defaultStoreIsBundledRoots()) {
        const roots = tls.rootCertificates.join("\\n") + "\\n";
        if (client._ca.startsWith(roots)) {
            const context = tls.createSecureContext(options);
            const rest = client._ca.slice(roots.length);
            if (rest.trim() !== "") context.context.addCACert(rest);
            return context;
        }
    }
    return tls.createSecureContext(Object.assign({ ca: client._ca }, options));
}
function __defaultStoreIsBundledRoots() {
    const flags = process.execArgv.concat((process.env.NODE_OPTIONS || "").split(/\\s+/));
    const variables = process.config && process.config.variables || {};
    return !process.env.NODE_EXTRA_CA_CERTS && !variables.node_use_openssl_ca && !variables.openssl_system_ca_path &&
        !flags.some((flag) => /^--use-(openssl|system)-ca$/.test(flag));
}
`;

export function shareSecureContext(source: string): string {
  const occurrences = source.split(CERT_AGENT_OPTIONS).length - 1;
  if (occurrences !== 1) {
    throw new Error(
      `typed-rest-client/HttpClient.js has ${occurrences} copies of the line that passes the certificate settings to each connection, not 1; review tools/tls-context-plugin.ts`,
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
