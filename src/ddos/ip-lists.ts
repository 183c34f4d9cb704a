import type { RequestContext } from '../core/context.js';
import { CONTINUE, type Guard, type Verdict } from '../core/guard.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { problem } from '../core/problem.js';
import { CidrSet } from './cidr-set.js';
import { EventSampler } from './event-sampler.js';
import { describeIssues, parseFeed } from './feed.js';
import { configErrorOf, ReloadingFile } from './file-reload.js';
import {
  DEFAULT_MAX_LIST_FILE_BYTES,
  type IpListsConfig,
  type ListEntry,
  type RouteNetworkConfig,
} from './network-config.js';

export interface IpListOptions {
  /** `allow` or `deny`, for messages and events. */
  name: string;
  entries: readonly ListEntry[];
  reloadIntervalMs: number;
  maxFileBytes: number;
  logger?: Logger;
}

/**
 * One IP list: inline CIDRs and the entries of list files, matched as one set. When a file
 * changes, the whole set is rebuilt and swapped in one assignment.
 */
export class IpList {
  readonly name: string;
  private readonly inline: string[];
  private readonly files: ReloadingFile<string[]>[];
  private set: CidrSet;
  // The network guards look up the same address one after another, so keeping the last
  // result saves the repeated lookups of a request.
  private lastIp = '';
  private lastAnswer = false;

  /** Reads the list files; throws a ConfigError naming the file and its invalid lines. */
  constructor(options: IpListOptions) {
    this.name = options.name;
    this.inline = options.entries.filter((entry): entry is string => typeof entry === 'string');
    const logger = options.logger ?? silentLogger;
    const files: ReloadingFile<string[]>[] = [];
    options.entries.forEach((entry, index) => {
      if (typeof entry === 'string') return;
      try {
        files.push(
          new ReloadingFile({
            path: entry.file,
            kind: `IP ${options.name} list`,
            code: 'BWK_ERR_CONFIG_IP_LIST',
            maxBytes: options.maxFileBytes,
            intervalMs: options.reloadIntervalMs,
            parse: parseListFile,
            onReload: () => this.rebuild(),
            logger,
          }),
        );
      } catch (error) {
        for (const file of files) file.close();
        throw configErrorOf(error, `ipLists.${options.name}.${index}.file`, entry.file);
      }
    });
    this.files = files;
    this.set = this.build();
  }

  get size(): number {
    return this.set.size;
  }

  has(ip: string): boolean {
    if (ip === this.lastIp) return this.lastAnswer;
    const answer = this.set.has(ip);
    this.lastIp = ip;
    this.lastAnswer = answer;
    return answer;
  }

  /** Checks every file for changes now, instead of at the next interval. */
  async reload(): Promise<void> {
    await Promise.all(this.files.map((file) => file.check()));
  }

  close(): void {
    for (const file of this.files) file.close();
  }

  private build(): CidrSet {
    return new CidrSet([...this.inline, ...this.files.flatMap((file) => file.current)]);
  }

  private rebuild(): void {
    const set = this.build();
    this.set = set;
    this.lastIp = '';
  }
}

function parseListFile(bytes: Buffer): string[] {
  const { cidrs, issues } = parseFeed(bytes.toString('utf8'));
  if (issues.length > 0) {
    throw new Error(`${issues.length} invalid line(s): ${describeIssues(issues)}`);
  }
  return cidrs;
}

/** The allow and deny lists of `ipLists`; an empty allowlist without the section. */
export class IpLists {
  readonly allow: IpList;
  readonly deny: IpList;

  constructor(config: IpListsConfig | undefined, logger: Logger) {
    const settings = {
      reloadIntervalMs: config?.reloadInterval ?? 30_000,
      maxFileBytes: config?.maxFileBytes ?? DEFAULT_MAX_LIST_FILE_BYTES,
      logger,
    };
    this.allow = new IpList({ name: 'allow', entries: config?.allow ?? [], ...settings });
    try {
      this.deny = new IpList({ name: 'deny', entries: config?.deny ?? [], ...settings });
    } catch (error) {
      this.allow.close();
      throw error;
    }
    if (config !== undefined) {
      logger.info(
        { allow: this.allow.size, deny: this.deny.size },
        'IP lists loaded (entries per list)',
      );
    }
  }

  close(): void {
    this.allow.close();
    this.deny.close();
  }
}

/**
 * Rejects clients on the deny list with 403, unless the allowlist names them too: an
 * allowlisted address is never rejected by the network guards.
 */
export class DenyListGuard implements Guard {
  readonly name = 'ip-deny';
  private readonly sampler = new EventSampler();

  constructor(private readonly lists: IpLists) {}

  check(ctx: RequestContext): Verdict {
    if (!this.lists.deny.has(ctx.ip) || this.lists.allow.has(ctx.ip)) return CONTINUE;
    const suppressed = this.sampler.sample(ctx.ip);
    return {
      action: 'reject',
      status: 403,
      headers: {},
      problem: problem('ip-denied', 403, 'Forbidden', 'BWK_ERR_IP_DENIED', {
        detail: 'Requests from this address are not accepted.',
      }),
      event: {
        type: 'ip.denied',
        category: 'violation',
        severity: 'low',
        details: { list: 'deny', suppressed: suppressed ?? 0 },
      },
      unreported: suppressed === undefined,
    };
  }
}

/**
 * Enforces the `network.allowOnly` lists of routes: other addresses get 403. The global
 * allowlist does not widen them, because a route that names its callers means exactly those.
 */
export class RouteAllowGuard implements Guard {
  readonly name = 'route-network';
  private readonly byRoute: ReadonlyMap<string, CidrSet>;
  private readonly sampler = new EventSampler();

  constructor(routes: ReadonlyArray<{ id: string; network?: RouteNetworkConfig }>) {
    const byRoute = new Map<string, CidrSet>();
    for (const route of routes) {
      const allowOnly = route.network?.allowOnly;
      if (allowOnly !== undefined) byRoute.set(route.id, new CidrSet(allowOnly));
    }
    this.byRoute = byRoute;
  }

  /** Whether any route has a list, so the guard is worth adding. */
  get isEmpty(): boolean {
    return this.byRoute.size === 0;
  }

  check(ctx: RequestContext): Verdict {
    const id = ctx.route?.id;
    const allowed = id === undefined ? undefined : this.byRoute.get(id);
    if (allowed === undefined || allowed.has(ctx.ip)) return CONTINUE;
    const suppressed = this.sampler.sample(ctx.ip);
    return {
      action: 'reject',
      status: 403,
      headers: {},
      problem: problem('ip-not-allowed', 403, 'Forbidden', 'BWK_ERR_IP_NOT_ALLOWED', {
        detail: 'This route accepts requests only from the networks its policy lists.',
      }),
      event: {
        type: 'ip.not_allowed',
        category: 'violation',
        severity: 'low',
        details: { suppressed: suppressed ?? 0 },
      },
      unreported: suppressed === undefined,
    };
  }
}
