import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID, timingSafeEqual } from 'node:crypto';

/**
 * A small in-memory shop API used by `npm start`: accounts, login and orders as JSON.
 * It plays the part of the user's own service behind the gateway.
 */

interface Order {
  id: string;
  accountId: string;
  item: string;
  quantity: number;
  createdAt: string;
}

const MAX_BODY_BYTES = 64 * 1024;

const accounts = new Map([
  ['1', { id: '1', name: 'Ada Lovelace', email: 'ada@example.com', password: 'analytical-engine' }],
  ['2', { id: '2', name: 'Alan Turing', email: 'alan@example.com', password: 'universal-machine' }],
]);

export function createDemoApi(): Server {
  const orders: Order[] = [
    {
      id: randomUUID(),
      accountId: '1',
      item: 'punched cards',
      quantity: 500,
      createdAt: new Date().toISOString(),
    },
  ];

  return createServer((req, res) => {
    route(req, res, orders).catch(() => send(res, 500, { error: 'internal error' }));
  });
}

async function route(req: IncomingMessage, res: ServerResponse, orders: Order[]): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://demo').pathname;
  const accountMatch = /^\/accounts\/([^/]+)$/.exec(path);
  const orderMatch = /^\/orders\/([^/]+)$/.exec(path);

  if (req.method === 'GET' && path === '/') {
    return send(res, 200, {
      service: 'demo shop',
      routes: [
        'POST /login',
        'GET /accounts/:id',
        'GET /orders',
        'POST /orders',
        'GET /orders/:id',
        'POST /files',
      ],
    });
  }
  if (req.method === 'POST' && path === '/login') return login(req, res);
  if (req.method === 'GET' && accountMatch) {
    const account = accounts.get(accountMatch[1]!);
    return account
      ? send(res, 200, { id: account.id, name: account.name, email: account.email })
      : send(res, 404, { error: 'account not found' });
  }
  if (req.method === 'GET' && path === '/orders') return send(res, 200, { orders });
  if (req.method === 'POST' && path === '/orders') return createOrder(req, res, orders);
  if (req.method === 'POST' && path === '/files') return receiveFiles(req, res);
  if (req.method === 'GET' && orderMatch) {
    const order = orders.find((candidate) => candidate.id === orderMatch[1]);
    return order ? send(res, 200, order) : send(res, 404, { error: 'order not found' });
  }
  send(res, 404, { error: 'not found' });
}

async function login(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJson(req);
  const username = typeof body?.username === 'string' ? body.username : '';
  const password = typeof body?.password === 'string' ? body.password : '';
  const account = [...accounts.values()].find((candidate) => candidate.email === username);
  if (!account || !sameSecret(account.password, password))
    return send(res, 401, { error: 'invalid credentials' });
  send(res, 200, { token: randomUUID(), accountId: account.id });
}

async function createOrder(
  req: IncomingMessage,
  res: ServerResponse,
  orders: Order[],
): Promise<void> {
  const body = await readJson(req);
  const item = body?.item;
  const quantity = body?.quantity;
  if (typeof item !== 'string' || !Number.isInteger(quantity) || (quantity as number) <= 0) {
    return send(res, 400, { error: 'expected {"item": string, "quantity": positive integer}' });
  }
  const order = {
    id: randomUUID(),
    accountId: '1',
    item: item.slice(0, 100),
    quantity: quantity as number,
    // The gateway sanitized the note's HTML; the API stores it as received.
    ...(typeof body?.note === 'string' ? { note: body.note } : {}),
    createdAt: new Date().toISOString(),
  };
  orders.push(order);
  send(res, 201, order);
}

/**
 * Receives uploads after the gateway checked and stored them: the body is the gateway's JSON
 * reference to the stored files (id, name, size, sha256, type), never the file bytes.
 */
async function receiveFiles(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJson(req);
  if (!Array.isArray(body?.files)) return send(res, 400, { error: 'expected a file reference' });
  send(res, 201, { received: body.files });
}

function sameSecret(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

export async function listenDemoApi(server: Server, port = 0): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
