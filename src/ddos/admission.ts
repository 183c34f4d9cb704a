/**
 * Carries out the load shedder's decision on a node:http response, for the gateway and the
 * adapters alike: an admitted request holds its slot until the response closes, a queued one
 * leaves the queue if its client disconnects first, and a shed one gets the 503.
 */
import type { ServerResponse } from 'node:http';

import type { RequestContext } from '../core/context.js';
import type { Decision } from '../core/pipeline.js';
import type { LoadShedder, Shed } from './load-shedding.js';

type Rejection = Extract<Decision, { action: 'reject' }>;

/**
 * Runs `proceed` once `shedder` admits the request, or `reject` when it sheds it. Neither
 * runs when the client disconnects while the request waits.
 */
export function admitRequest(
  shedder: LoadShedder,
  ctx: RequestContext,
  res: ServerResponse,
  proceed: () => void,
  reject: (shed: Shed) => void,
): void {
  const admission = shedder.admit(ctx);
  if (admission.state === 'admitted') {
    res.once('close', admission.release);
    proceed();
    return;
  }
  if (admission.state === 'shed') {
    reject(admission);
    return;
  }

  const leave = (): void => admission.cancel();
  res.once('close', leave);
  void admission.settled.then((result) => {
    res.off('close', leave);
    if (result.state === 'shed') {
      reject(result);
      return;
    }
    if (res.destroyed) {
      result.release();
      return;
    }
    res.once('close', result.release);
    proceed();
  });
}

/**
 * Turns a shed request into a rejection decision, with the headers a guard's rejection would
 * carry, so that each adapter writes it as it writes any other rejection.
 */
export function rejectionFor(ctx: RequestContext, shed: Shed): Rejection {
  return {
    action: 'reject',
    status: shed.status,
    headers: { ...ctx.responseDefaults, ...ctx.responseHeaders, ...shed.headers },
    body: shed.problem,
  };
}
