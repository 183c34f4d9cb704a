/** Builds the injection guard from a policy, for the gateway and the library adapters. */
import type { PolicyConfig } from '../../core/config.js';
import type { Logger } from '../../core/logger.js';
import type { EventBus } from '../../events/bus.js';
import { compileWafPolicy, wafEnabledAnywhere } from './config.js';
import { inspectKey, inspectValue } from './engine.js';
import { WafGuard, type Inspector } from './guard.js';

/** The detection engine, as the guard calls it. */
export const engineInspector: Inspector = { inspectValue, inspectKey };

/** Returns the guard, or undefined where no route and no unmatched request has it on. */
export function createWafGuard(
  config: PolicyConfig,
  options: { bus: EventBus; logger: Logger },
): WafGuard | undefined {
  if (!wafEnabledAnywhere(config)) return undefined;
  return new WafGuard({
    fallback: compileWafPolicy(config.waf),
    inspector: engineInspector,
    bus: options.bus,
    logger: options.logger,
  });
}
