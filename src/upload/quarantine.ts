/**
 * The rescan loop for files accepted into quarantine while clamd was unavailable. Every
 * `retryIntervalMs` it scans the waiting files again: a clean file is released to the
 * storage folder, an infected one is condemned and stays in quarantine, and while clamd is
 * still unavailable the files wait for the next round.
 */
import type { Logger } from '../core/logger.js';
import type { EventBus } from '../events/bus.js';
import { ClamdResponseError, type ClamdClient } from './clamd.js';
import type { UploadStorage, StoredRecord } from './storage.js';

export interface RescanSummary {
  released: number;
  condemned: number;
  waiting: number;
}

export class QuarantineRescanner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RescanSummary> | undefined;
  private unavailableLogged = false;

  constructor(
    private readonly storage: UploadStorage,
    private readonly scanner: ClamdClient,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    private readonly bus: EventBus | undefined,
  ) {}

  /** Starts the loop if it is not running. The timer does not keep the process alive. */
  start(): void {
    if (this.timer !== undefined) return;
    this.logger.info({ intervalMs: this.intervalMs }, 'upload quarantine rescan started');
    this.timer = setInterval(() => void this.rescan(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.logger.info('upload quarantine rescan stopped');
  }

  /** Scans every waiting file once; a call during a running pass returns that pass. */
  rescan(): Promise<RescanSummary> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<RescanSummary> {
    const summary: RescanSummary = { released: 0, condemned: 0, waiting: 0 };
    const pending = await this.storage.pending();
    for (const [index, record] of pending.entries()) {
      let result;
      try {
        result = await this.scanner.scanFile(this.storage.quarantinePathOf(record.id));
      } catch (error) {
        // An error line from clamd concerns this file (e.g. over its StreamMaxLength), so
        // the file keeps waiting and the pass goes on with the others.
        if (error instanceof ClamdResponseError) {
          this.logger.error(
            { err: error, fileId: record.id },
            'clamd could not scan a quarantined upload',
          );
          summary.waiting += 1;
          continue;
        }
        if (!this.unavailableLogged) {
          this.logger.warn(
            { err: error, waiting: pending.length },
            'clamd still unavailable; quarantined uploads wait for the next rescan',
          );
          this.unavailableLogged = true;
        }
        summary.waiting += pending.length - index;
        return summary;
      }
      this.unavailableLogged = false;
      if (result.clean) {
        await this.storage.release(record);
        summary.released += 1;
        this.logger.info({ fileId: record.id }, 'quarantined upload released after a clean scan');
        this.publish('upload.accepted', record, { released: true });
      } else {
        await this.storage.condemn(record, result.signature);
        summary.condemned += 1;
        this.logger.warn(
          { fileId: record.id, signature: result.signature },
          'quarantined upload condemned as malware',
        );
        this.publish('upload.malware', record, {
          signature: result.signature,
          afterQuarantine: true,
        });
      }
    }
    return summary;
  }

  private publish(
    type: 'upload.accepted' | 'upload.malware',
    record: StoredRecord,
    extra: Record<string, unknown>,
  ): void {
    this.bus?.publish({
      type,
      category: type === 'upload.malware' ? 'violation' : 'data_access',
      severity: type === 'upload.malware' ? 'high' : 'info',
      outcome: type === 'upload.malware' ? 'detected' : 'success',
      component: 'upload',
      actor: { type: 'system' },
      target: { resourceType: 'upload', resourceId: record.id },
      details: {
        field: record.field,
        size: record.size,
        sha256: record.sha256,
        type: record.type,
        ...extra,
      },
    });
  }
}
