import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Prometheus metrics of the audit log writer. */
export class AuditMetrics {
  readonly appended: Counter;
  readonly dropped: Counter;
  readonly spooled: Counter;
  readonly storeFailures: Counter;
  readonly spoolBytes: Gauge;
  readonly commitSeconds: Histogram;

  constructor(registry?: Registry) {
    const registers = registry ? [registry] : [];
    this.appended = new Counter({
      name: 'bulwark_audit_records_total',
      help: 'Records committed to the audit log, checkpoints and tombstones included.',
      registers,
    });
    this.dropped = new Counter({
      name: 'bulwark_audit_dropped_total',
      help: 'Events lost because the audit store was unreachable and the spool was full. Any increase needs attention.',
      registers,
    });
    this.spooled = new Counter({
      name: 'bulwark_audit_spooled_total',
      help: 'Events written to the local spool while the audit store was unreachable.',
      registers,
    });
    this.storeFailures = new Counter({
      name: 'bulwark_audit_store_failures_total',
      help: 'Failed commits to the audit store.',
      registers,
    });
    this.spoolBytes = new Gauge({
      name: 'bulwark_audit_spool_bytes',
      help: 'Bytes of events waiting in the spool for the audit store.',
      registers,
    });
    this.commitSeconds = new Histogram({
      name: 'bulwark_audit_commit_seconds',
      help: 'Time of one group commit to the audit store.',
      buckets: [0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
  }
}
