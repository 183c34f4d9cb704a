import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';

/** A plain node:http server on a random loopback port that plays the protected API. */
export interface Upstream {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

/** Starts an upstream on `port`, or on a port the kernel picks when it is 0. */
export async function startUpstream(handler: RequestListener, port = 0): Promise<Upstream> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Returns a loopback port that nothing listens on: the kernel picks a free one, and the
 * listener closes again before the port is returned.
 */
export async function unusedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Responds to every request with 200 and a small JSON body naming the method and path. */
export const okHandler: RequestListener = (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: true, method: req.method, url: req.url }));
  });
};
