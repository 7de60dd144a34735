import { strict as assert } from 'node:assert';
import { bypassEntryToHost, proxyEnvironment, proxyUrlWithCredentials } from '../../src/core/proxy-env';

describe("the agent proxy for az's environment", () => {
  it('percent-encodes a user name and password holding @, /, #, : and %', () => {
    const url = proxyUrlWithCredentials({
      proxyUrl: 'http://proxy.corp:8080',
      proxyUsername: 'CORP\\build er',
      proxyPassword: 'p@ss/w#rd:%',
    });
    assert.equal(url, 'http://CORP%5Cbuild%20er:p%40ss%2Fw%23rd%3A%25@proxy.corp:8080/');
    // What Python's requests reads back out of it.
    const parsed = new URL(url);
    assert.equal(parsed.host, 'proxy.corp:8080');
    assert.equal(decodeURIComponent(parsed.username), 'CORP\\build er');
    assert.equal(decodeURIComponent(parsed.password), 'p@ss/w#rd:%');
  });

  it('leaves a proxy without credentials as it is', () => {
    assert.equal(proxyUrlWithCredentials({ proxyUrl: 'http://proxy.corp:8080' }), 'http://proxy.corp:8080/');
  });

  it('sets both spellings of the proxy variables, and NO_PROXY from the bypass list', () => {
    const { env, untranslated } = proxyEnvironment({
      proxyUrl: 'http://proxy.corp:8080',
      proxyUsername: 'u',
      proxyPassword: 'p@ss/w#rd',
      proxyBypassHosts: ['localhost', '^127\\.0\\.0\\.1$', '.*\\.corp\\.example', 'git(hub|lab)\\.com'],
    });
    const url = 'http://u:p%40ss%2Fw%23rd@proxy.corp:8080/';
    assert.deepEqual(env, {
      HTTPS_PROXY: url,
      https_proxy: url,
      HTTP_PROXY: url,
      http_proxy: url,
      NO_PROXY: 'localhost,127.0.0.1,.corp.example',
      no_proxy: 'localhost,127.0.0.1,.corp.example',
    });
    assert.deepEqual(untranslated, ['git(hub|lab)\\.com']);
  });

  it('sets no NO_PROXY when nothing is bypassed', () => {
    assert.equal(proxyEnvironment({ proxyUrl: 'http://p:1', proxyBypassHosts: [] }).env.NO_PROXY, undefined);
  });

  const cases: Array<[string, string | undefined]> = [
    ['localhost', 'localhost'],
    ['^myhost\\.corp$', 'myhost.corp'],
    ['.*\\.corp\\.example', '.corp.example'],
    ['.*corp.example', '.corp.example'],
    ['https?://build\\.corp', 'build.corp'],
    ['host.corp:8080', 'host.corp:8080'],
    ['[a-z]+\\.corp', undefined],
    ['a|b', undefined],
    ['.*', undefined],
    ['', undefined],
  ];
  for (const [expression, host] of cases) {
    it(`turns the bypass expression ${JSON.stringify(expression)} into ${JSON.stringify(host)}`, () =>
      assert.equal(bypassEntryToHost(expression), host));
  }
});
