import * as http from 'node:http';
import * as net from 'node:net';

/** One CONNECT tunnel the proxy opened or refused. */
export interface ProxyLogEntry {
  target: string;
  status: number;
  authorized: boolean;
}

/**
 * A real HTTP CONNECT proxy on loopback, as corporate agents sit behind: it tunnels TLS to the target and
 * logs every tunnel. With credentials set it answers 407 to a CONNECT without the right Basic credentials.
 */
export class ConnectProxy {
  readonly log: ProxyLogEntry[] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(credentials?: { username: string; password: string }): Promise<ConnectProxy> {
    const expected = credentials
      ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`
      : undefined;
    const server = http.createServer((_req, res) => {
      res.writeHead(405).end('CONNECT only');
    });
    const proxy = await new Promise<ConnectProxy>((resolve) => {
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        resolve(new ConnectProxy(server, `http://127.0.0.1:${port}`));
      });
    });
    server.on('connection', (socket: net.Socket) => {
      proxy.sockets.add(socket);
      socket.on('close', () => proxy.sockets.delete(socket));
    });
    server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
      const target = req.url ?? '';
      const authorized = !expected || req.headers['proxy-authorization'] === expected;
      if (!authorized) {
        proxy.log.push({ target, status: 407, authorized });
        client.end(
          'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n',
        );
        return;
      }
      const [host, port] = target.split(':');
      const upstream = net.connect(Number(port), host, () => {
        proxy.log.push({ target, status: 200, authorized });
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      proxy.sockets.add(upstream);
      upstream.on('close', () => proxy.sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    return proxy;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
