import { Reader, type Response } from 'mmdb-lib';

import type { RequestContext } from '../core/context.js';
import { CONTINUE, type Guard, type Verdict } from '../core/guard.js';
import { parseIp } from '../core/ip.js';
import type { Logger } from '../core/logger.js';
import { problem } from '../core/problem.js';
import { EventSampler } from './event-sampler.js';
import { configErrorOf, ReloadingFile } from './file-reload.js';
import type { IpList } from './ip-lists.js';
import type { CountryRule, GeoConfig, RouteNetworkConfig } from './network-config.js';

const MAX_CACHED_LOOKUPS = 10_000;

/** The record shapes of the country databases in use: ip-location-db's and MaxMind's. */
interface CountryRecord {
  country_code?: unknown;
  country?: { iso_code?: unknown };
  registered_country?: { iso_code?: unknown };
}

/**
 * A country database in the MaxMind DB (MMDB) format, read whole into memory with mmdb-lib
 * and reloaded when the file changes. Records may be in the ip-location-db shape
 * (`country_code`) or MaxMind's (`country.iso_code`, else `registered_country.iso_code`).
 */
export class CountryDatabase {
  private readonly file: ReloadingFile<Reader<Response>>;
  // A lookup walks the search tree (about 2 µs on the development machine), and clients
  // repeat, so results are cached until the cache fills or the file changes.
  private readonly cache = new Map<string, string | null>();

  /** Reads the database; throws a ConfigError when it is missing, too large or not MMDB. */
  constructor(config: GeoConfig, logger: Logger) {
    const path = config.database;
    try {
      this.file = new ReloadingFile({
        path,
        kind: 'country database',
        code: 'BWK_ERR_CONFIG_GEO',
        maxBytes: config.maxFileBytes,
        intervalMs: config.reloadInterval,
        parse: openDatabase,
        onReload: () => this.cache.clear(),
        logger,
      });
    } catch (error) {
      throw configErrorOf(error, 'geo.database', config.database);
    }
    const metadata = this.file.current.metadata;
    logger.info(
      { file: path, type: metadata.databaseType, builtAt: metadata.buildEpoch.toISOString() },
      'country database loaded',
    );
  }

  /**
   * Returns the ISO 3166-1 alpha-2 code of an address, or undefined when it is unknown.
   * Addresses outside the public unicast ranges (private, loopback, documentation) are
   * always unknown. Databases built from registry data do place some documentation ranges
   * in a country, which a country rule must not trust.
   */
  country(ip: string): string | undefined {
    const cached = this.cache.get(ip);
    if (cached !== undefined) return cached ?? undefined;
    const code = this.lookup(ip);
    if (this.cache.size >= MAX_CACHED_LOOKUPS) this.cache.clear();
    this.cache.set(ip, code ?? null);
    return code;
  }

  /** Checks the file for changes now, instead of at the next interval. */
  reload(): Promise<void> {
    return this.file.check();
  }

  close(): void {
    this.file.close();
  }

  private lookup(ip: string): string | undefined {
    const address = parseIp(ip);
    if (address === undefined || address.range() !== 'unicast') return undefined;
    const reader = this.file.current;
    // mmdb-lib returns an unrelated record for an IPv6 lookup in an IPv4-only database.
    if (reader.metadata.ipVersion === 4 && address.kind() === 'ipv6') return undefined;
    const record = reader.get(address.toString()) as CountryRecord | null;
    if (record === null) return undefined;
    const code =
      record.country_code ?? record.country?.iso_code ?? record.registered_country?.iso_code;
    return typeof code === 'string' && /^[A-Z]{2}$/.test(code) ? code : undefined;
  }
}

function openDatabase(bytes: Buffer): Reader<Response> {
  let reader: Reader<Response>;
  try {
    reader = new Reader<Response>(bytes);
  } catch (error) {
    throw new Error(`not a MaxMind DB (MMDB) file: ${(error as Error).message}`, { cause: error });
  }
  if (reader.metadata.ipVersion !== 6 && reader.metadata.ipVersion !== 4) {
    throw new Error(`unsupported MMDB ip_version ${String(reader.metadata.ipVersion)}`);
  }
  return reader;
}

/** A country rule compiled for lookups. */
interface CompiledRule {
  allow: ReadonlySet<string> | undefined;
  deny: ReadonlySet<string> | undefined;
  denyUnknown: boolean;
}

function compileRule(rule: Partial<CountryRule>): CompiledRule | undefined {
  const compiled = {
    allow: rule.allow && new Set(rule.allow),
    deny: rule.deny && new Set(rule.deny),
    denyUnknown: rule.unknown === 'deny',
  };
  const noRule = !compiled.allow && !compiled.deny && !compiled.denyUnknown;
  return noRule ? undefined : compiled;
}

/**
 * Allows or denies requests by the country of the client address: the global `geo` rule,
 * or a route's `network.countries`, which replaces it. Allowlisted addresses always pass.
 */
export class GeoGuard implements Guard {
  readonly name = 'geo';
  private readonly global: CompiledRule | undefined;
  private readonly byRoute: ReadonlyMap<string, CompiledRule | undefined>;
  private readonly sampler = new EventSampler();

  constructor(
    private readonly database: CountryDatabase,
    config: GeoConfig,
    routes: ReadonlyArray<{ id: string; network?: RouteNetworkConfig }>,
    private readonly allowlist: IpList,
  ) {
    this.global = compileRule(config);
    const byRoute = new Map<string, CompiledRule | undefined>();
    for (const route of routes) {
      const countries = route.network?.countries;
      if (countries !== undefined) byRoute.set(route.id, compileRule(countries));
    }
    this.byRoute = byRoute;
  }

  check(ctx: RequestContext): Verdict {
    const id = ctx.route?.id;
    const rule = id !== undefined && this.byRoute.has(id) ? this.byRoute.get(id) : this.global;
    if (rule === undefined || this.allowlist.has(ctx.ip)) return CONTINUE;

    const country = this.database.country(ctx.ip);
    const denied =
      country === undefined
        ? rule.denyUnknown
        : (rule.allow !== undefined && !rule.allow.has(country)) ||
          (rule.deny !== undefined && rule.deny.has(country));
    if (!denied) return CONTINUE;

    const suppressed = this.sampler.sample(ctx.ip);
    return {
      action: 'reject',
      status: 403,
      headers: {},
      problem: problem('country-denied', 403, 'Forbidden', 'BWK_ERR_COUNTRY_DENIED', {
        detail: 'Requests from this location are not accepted.',
      }),
      event: {
        type: 'geo.denied',
        category: 'violation',
        severity: 'low',
        details: { country: country ?? 'unknown', suppressed: suppressed ?? 0 },
      },
      unreported: suppressed === undefined,
    };
  }
}
