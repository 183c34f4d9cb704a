import type { Guard } from '../core/guard.js';
import { CidrList, type CdnClientHeader } from '../core/ip.js';
import type { Logger } from '../core/logger.js';
import type { EventBus } from '../events/bus.js';
import { BanService } from './ban-service.js';
import type { BanStore } from './ban-store.js';
import { BanGuard } from './bans.js';
import { CountryDatabase, GeoGuard } from './geo.js';
import { DenyListGuard, IpLists, RouteAllowGuard } from './ip-lists.js';
import type { NetworkPolicy, RouteNetworkConfig } from './network-config.js';

/** The part of the policy that the network guards read. */
export type NetworkPolicyConfig = NetworkPolicy & {
  routes: ReadonlyArray<{ match: { text: string }; network?: RouteNetworkConfig }>;
  storage: { redis?: string; keyPrefix: string; commandTimeout: number };
};

export interface NetworkDeps {
  bus: EventBus;
  logger: Logger;
  /** Replaces the ban store chosen from `storage` (tests). */
  banStore?: BanStore;
}

/**
 * The guards that decide by client address alone, in the order they run: bans, the deny
 * list, route allow lists, countries. They come first in the pipeline because each costs a
 * map lookup or a binary search and rejects a flood before any body parsing or I/O.
 * NOTE: they run per request, after Node has parsed the request head; the gateway's
 * connection-level limits do not consult bans or lists, so a banned client still opens
 * connections.
 */
export interface NetworkProtection {
  readonly guards: readonly Guard[];
  readonly lists: IpLists;
  /** Automatic and manual bans; undefined without a `bans` section. */
  readonly bans: BanService | undefined;
  readonly countries: CountryDatabase | undefined;
  /** The CDN client header to believe; undefined without a `cdn` section. */
  readonly cdn: CdnClientHeader | undefined;
  close(): Promise<void>;
}

/**
 * Builds the network guards of a policy. Reads list files and the country database at once
 * and throws a ConfigError (BWK_ERR_CONFIG_IP_LIST, BWK_ERR_CONFIG_GEO) naming the file
 * when one cannot be loaded, so a bad file stops the start.
 */
export function createNetworkProtection(
  config: NetworkPolicyConfig,
  deps: NetworkDeps,
): NetworkProtection {
  const lists = new IpLists(config.ipLists, deps.logger);
  let countries: CountryDatabase | undefined;
  try {
    countries = config.geo && new CountryDatabase(config.geo, deps.logger);
  } catch (error) {
    lists.close();
    throw error;
  }
  const bans =
    config.bans &&
    new BanService({
      config: config.bans,
      storage: config.storage,
      allowlist: lists.allow,
      bus: deps.bus,
      logger: deps.logger,
      store: deps.banStore,
    });

  const routes = config.routes.map((route) => ({ id: route.match.text, network: route.network }));
  const guards: Guard[] = [];
  if (bans !== undefined) guards.push(new BanGuard(bans.list, lists.allow));
  if ((config.ipLists?.deny.length ?? 0) > 0) guards.push(new DenyListGuard(lists));
  const routeAllow = new RouteAllowGuard(routes);
  if (!routeAllow.isEmpty) guards.push(routeAllow);
  if (countries !== undefined && config.geo !== undefined)
    guards.push(new GeoGuard(countries, config.geo, routes, lists.allow));

  return {
    guards,
    lists,
    bans,
    countries,
    cdn: config.cdn && { header: config.cdn.header, ranges: new CidrList(config.cdn.ranges) },
    async close() {
      await bans?.close();
      countries?.close();
      lists.close();
    },
  };
}
