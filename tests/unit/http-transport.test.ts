import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TaskFailure, TransientFailure } from '../../src/core/errors';
import { createTransport, networkFailure } from '../../src/core/http';

describe('HTTP transport: work while waiting (src/core/http.ts)', () => {
  let server: http.Server;
  let url: string;
  const events: string[] = [];

  beforeEach(async () => {
    events.length = 0;
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        events.push(`server answers ${req.method}`);
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterEach(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('does the work once, during the first request, before its answer is read', async () => {
    const transport = createTransport({
      userAgent: 'test',
      timeoutMs: 5000,
      whileWaiting: () => events.push('work'),
    });
    events.push('send 1');
    const first = await transport.send({ method: 'POST', url, headers: {}, body: 'x' });
    events.push(`answer ${first.status}`);
    await transport.send({ method: 'GET', url, headers: {}, body: '' });
    events.push('answer 2');
    assert.deepEqual(
      events.filter((e) => e !== 'server answers POST' && e !== 'server answers GET'),
      ['send 1', 'work', 'answer 200', 'answer 2'],
    );
    assert.equal(events.filter((e) => e === 'work').length, 1);
  });

  it('ignores an error in the work: the request still succeeds', async () => {
    const transport = createTransport({
      userAgent: 'test',
      timeoutMs: 5000,
      whileWaiting: () => {
        throw new Error('cannot load');
      },
    });
    const response = await transport.send({ method: 'POST', url, headers: {}, body: '' });
    assert.equal(response.status, 200);
    assert.equal(response.body, '{}');
  });

  it('does no work before a request is sent: none when the first cannot connect, nor later', async () => {
    let calls = 0;
    const transport = createTransport({ userAgent: 'test', timeoutMs: 5000, whileWaiting: () => calls++ });
    await assert.rejects(
      transport.send({ method: 'GET', url: 'http://127.0.0.1:1/', headers: {}, body: '' }),
      /could not complete a request to 127\.0\.0\.1:1 \(ECONNREFUSED\)/,
    );
    await transport.send({ method: 'GET', url, headers: {}, body: '' });
    assert.equal(calls, 0);
  });
});

describe('which request failures are worth another attempt (src/core/http.ts networkFailure)', () => {
  const url = 'https://dev.azure.com/org/_apis/x';
  const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

  for (const code of ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EAI_AGAIN', 'EPIPE']) {
    it(`retries a network-level failure (${code})`, () => {
      const failure = networkFailure(withCode('boom', code), url);
      assert.ok(failure instanceof TransientFailure);
      assert.equal(failure.reason, `${code} from dev.azure.com`);
    });
  }

  it('retries a socket hang-up that carries no code', () => {
    assert.ok(networkFailure(new Error('socket hang up'), url) instanceof TransientFailure);
  });

  it('passes a bug (a TypeError) on as it is, so it is reported once instead of retried until the deadline', () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'headers')");
    assert.equal(networkFailure(bug, url), bug);
  });

  it('fails at once, without retrying, on an unknown error code', () => {
    const odd = withCode('odd', 'ERR_SOMETHING_ELSE');
    assert.equal(networkFailure(odd, url), odd);
  });

  it('keeps a TaskFailure as it is, and makes an untrusted certificate definitive', () => {
    const failure = new TaskFailure('already explained');
    assert.equal(networkFailure(failure, url), failure);
    const untrusted = networkFailure(withCode('self signed', 'SELF_SIGNED_CERT_IN_CHAIN'), url);
    assert.ok(untrusted instanceof TaskFailure && !(untrusted instanceof TransientFailure));
  });
});
