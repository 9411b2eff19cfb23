/**
 * Prometheus metrics of `waypost serve` (prom-client). In a cluster every worker keeps its own
 * and the primary aggregates them (prom-client's AggregatorRegistry): counters and histograms
 * are summed; the active-revision gauge is taken as the maximum (1 when any worker serves it).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class ServeMetrics {
  readonly registry = new Registry();
  private readonly latency = new Histogram({
    name: "waypost_decision_duration_seconds",
    help: "Time from request to answer of a Data API call (the decision log write included), by entrypoint",
    labelNames: ["path"],
    // Microseconds to a second: a decision takes tens of µs, a durable log write a few ms.
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  private readonly outcomes = new Counter({
    name: "waypost_decisions_total",
    help: "Decisions by entrypoint, outcome, journey node and channel",
    labelNames: ["path", "outcome", "node", "channel"],
    registers: [this.registry],
  });
  private readonly revision = new Gauge({
    name: "waypost_bundle_active_revision",
    help: "1 for the bundle revision being served",
    labelNames: ["name", "revision"],
    aggregator: "max",
    registers: [this.registry],
  });
  private readonly activations = new Counter({
    name: "waypost_bundle_activations_total",
    help: "Bundle revisions activated",
    labelNames: ["name"],
    registers: [this.registry],
  });
  private readonly failures = new Counter({
    name: "waypost_bundle_activation_failures_total",
    help: "Bundles fetched but not activated (bad signature, failed self-check, fetch errors), by code",
    labelNames: ["name", "code"],
    registers: [this.registry],
  });
  readonly backlog = new Gauge({
    name: "waypost_decision_log_backlog",
    help: "Decision log entries written locally and not yet acknowledged by the collector",
    registers: [this.registry],
  });
  private readonly uploads = new Counter({
    name: "waypost_decision_log_uploaded_total",
    help: "Decision log events acknowledged by the collector",
    registers: [this.registry],
  });
  private readonly uploadFailures = new Counter({
    name: "waypost_decision_log_upload_failures_total",
    help: "Failed decision log uploads (each is retried with backoff)",
    registers: [this.registry],
  });
  private current: { name: string; revision: string } | null = null;

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }

  decided(path: string, seconds: number, outcome: string, node: string | null, channel: string | null): void {
    this.latency.observe({ path }, seconds);
    this.outcomes.inc({ path, outcome, node: node ?? "", channel: channel ?? "" });
  }

  activated(name: string, revision: string): void {
    if (this.current) this.revision.remove(this.current);
    this.current = { name, revision };
    this.revision.set(this.current, 1);
    this.activations.inc({ name });
  }

  activationFailed(name: string, code: string): void {
    this.failures.inc({ name, code });
  }

  uploaded(n: number): void {
    this.uploads.inc(n);
  }

  uploadFailed(): void {
    this.uploadFailures.inc();
  }
}
