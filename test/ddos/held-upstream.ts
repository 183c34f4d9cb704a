import type { ServerResponse } from 'node:http';

import { startUpstream, type Upstream } from '../helpers/upstream.js';

/**
 * An upstream that holds every request on a path starting with `/held` until the test
 * releases it, so that a test decides exactly how many requests are in flight. Other paths
 * get a response at once. Each request is logged by its `x-who` header as it arrives.
 */
export interface HeldUpstream extends Upstream {
  /** `x-who` of each request, in order of arrival. */
  arrivals: string[];
  /** Requests being held. */
  readonly held: number;
  /** Resolves once `count` requests are being held. */
  waitForHeld(count: number): Promise<void>;
  /** Responds to the oldest held request with 200. */
  releaseOne(): void;
  releaseAll(): void;
}

export async function startHeldUpstream(): Promise<HeldUpstream> {
  const arrivals: string[] = [];
  const held: ServerResponse[] = [];
  const waiters: Array<() => void> = [];
  const wake = (): void => {
    for (const waiter of waiters.splice(0)) waiter();
  };

  const upstream = await startUpstream((req, res) => {
    arrivals.push(String(req.headers['x-who'] ?? ''));
    req.resume();
    if (req.url?.startsWith('/held')) {
      held.push(res);
      wake();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });

  const answer = (res: ServerResponse | undefined): void => {
    res?.writeHead(200, { 'content-type': 'text/plain' }).end('released');
  };
  return {
    ...upstream,
    arrivals,
    get held() {
      return held.length;
    },
    async waitForHeld(count) {
      while (held.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    releaseOne: () => answer(held.shift()),
    releaseAll: () => {
      for (const res of held.splice(0)) answer(res);
    },
  };
}
