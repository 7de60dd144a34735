/**
 * Preload (`node -r`) for benchmark contender 3: sends fetch() requests for the hosts in BENCH_REDIRECT_HOSTS
 * (comma-separated, e.g. login.microsoftonline.com) to BENCH_REDIRECT_ORIGIN (the emulator) instead, path and
 * query unchanged, as a DNS entry pointing those hosts at the emulator would. @azure/msal-node sends its
 * instance-discovery request to login.microsoftonline.com whatever the authority, through fetch.
 * fetch is wrapped on first use, so the preload does not load Node's fetch implementation early.
 */
export {};

const origin = process.env.BENCH_REDIRECT_ORIGIN;
const hosts = new Set((process.env.BENCH_REDIRECT_HOSTS ?? '').split(',').filter(Boolean));

function redirect(original: typeof fetch): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (!origin || !hosts.has(url.host)) return original(input, init);
    const target = new URL(origin);
    url.protocol = target.protocol;
    url.host = target.host;
    return original(input instanceof Request ? new Request(url, input) : url, init);
  };
}

const descriptor = Object.getOwnPropertyDescriptor(globalThis, 'fetch');
if (descriptor) {
  Object.defineProperty(globalThis, 'fetch', {
    configurable: true,
    enumerable: descriptor.enumerable,
    get() {
      const original = (descriptor.get ? descriptor.get.call(globalThis) : descriptor.value) as typeof fetch;
      const wrapped = redirect(original);
      Object.defineProperty(globalThis, 'fetch', { configurable: true, writable: true, value: wrapped });
      return wrapped;
    },
    set(value: typeof fetch) {
      Object.defineProperty(globalThis, 'fetch', { configurable: true, writable: true, value });
    },
  });
}
