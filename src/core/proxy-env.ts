/** The agent's proxy as the environment variables a child tool (the Azure CLI's Python requests) reads. */
export interface AgentProxy {
  proxyUrl: string;
  proxyUsername?: string;
  proxyPassword?: string;
  /** Agent.ProxyBypassList: regular expressions the agent matches against request URLs. */
  proxyBypassHosts?: string[];
}

export interface ProxyEnvironment {
  env: Record<string, string>;
  /** Bypass entries no host name can express (NO_PROXY takes names, not expressions). */
  untranslated: string[];
}

/** The proxy URL with its credentials percent-encoded, so `@`, `#`, `/` or `:` in a password survive. */
export function proxyUrlWithCredentials(proxy: AgentProxy): string {
  const url = new URL(proxy.proxyUrl);
  if (proxy.proxyUsername) {
    // Assigning to URL.username/password percent-encodes only some characters; encode all reserved ones.
    url.username = encodeURIComponent(proxy.proxyUsername);
    if (proxy.proxyPassword) url.password = encodeURIComponent(proxy.proxyPassword);
  }
  return url.href;
}

/**
 * Turns one agent bypass expression into a NO_PROXY entry, where it is plainly a host name: `localhost`,
 * `^myhost\.corp$`, `.*\.corp\.example` (any subdomain: `.corp.example`). Anything else (alternations, classes,
 * partial-URL patterns) has no NO_PROXY form, and is returned as undefined.
 */
export function bypassEntryToHost(expression: string): string | undefined {
  let text = expression.trim().replace(/^\^/, '').replace(/\$$/, '');
  text = text.replace(/^(?:https?:\/\/|https\?:\/\/|\(https\?:\/\/\)\?)/i, '');
  let wildcard = false;
  if (text.startsWith('.*\\.')) {
    wildcard = true;
    text = text.slice(3);
  } else if (text.startsWith('.*')) {
    wildcard = true;
    text = text.slice(2);
  }
  const host = text.replace(/\\\./g, '.');
  // A remaining unescaped `.` matches any character, but as a host name it is almost always meant literally.
  if (!/^\.?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::\d+)?$/.test(host)) return undefined;
  if (wildcard) return host.startsWith('.') ? host : `.${host}`;
  return host;
}

export function proxyEnvironment(proxy: AgentProxy): ProxyEnvironment {
  const url = proxyUrlWithCredentials(proxy);
  const env: Record<string, string> = {
    HTTPS_PROXY: url,
    https_proxy: url,
    HTTP_PROXY: url,
    http_proxy: url,
  };
  const hosts: string[] = [];
  const untranslated: string[] = [];
  for (const entry of proxy.proxyBypassHosts ?? []) {
    const host = bypassEntryToHost(entry);
    if (host) hosts.push(host);
    else untranslated.push(entry);
  }
  if (hosts.length > 0) env.NO_PROXY = env.no_proxy = hosts.join(',');
  return { env, untranslated };
}
