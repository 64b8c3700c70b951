/**
 * An endpoint's metrics as the endpoint holds them: off, on (read with `metricsText`),
 * or on and served over HTTP at `/metrics` (option `metrics: 'HOST:PORT'`).
 *
 * Intuition: the endpoint should not care which of the three it is. It feeds
 * `afterStep` after every step and calls `close` when it closes; this keeps the
 * registry and its server, knows the served address, and says when the server is
 * closed, so that `stop` resolves only once the port is free again.
 */
import { OptionError } from '../errors.js';
import { EndpointMetrics, serveMetrics } from './endpoint-metrics.js';
import type { EndpointMetricsSource, MetricsServer } from './endpoint-metrics.js';

/** An endpoint's metrics, and their server if any (see the module's comment). */
export class MetricsWiring {
  private readonly metrics: EndpointMetrics | null;
  private server: MetricsServer | null = null;
  private serverClosed: Promise<void> = Promise.resolve();

  /** Metrics of `src` when `on`, else none. */
  constructor(on: boolean, src: EndpointMetricsSource) {
    this.metrics = on ? new EndpointMetrics(src) : null;
  }

  /** Where the metrics are served (`host:port`), or `null` when they are not. */
  get address(): string | null {
    return this.server?.address ?? null;
  }

  /**
   * The metrics now, in Prometheus' text format.
   * @throws OptionError when the metrics are off.
   */
  text(): string {
    if (this.metrics === null) throw new OptionError('metrics are off: start the endpoint with option metrics');
    return this.metrics.expose();
  }

  /** After every step of the core (the histograms' durations). */
  afterStep(): void {
    this.metrics?.afterStep();
  }

  /** Serve `text()` at `host:port`; resolves to the bound address once listening. */
  async serve(host: string, port: number): Promise<string> {
    this.server = await serveMetrics(host, port, () => this.text());
    return this.server.address;
  }

  /** Stop measuring, and stop serving (see `closed`). */
  close(): void {
    this.metrics?.close();
    if (this.server !== null) this.serverClosed = this.server.close();
  }

  /** Settles once the server (if any) is closed. */
  closed(): Promise<void> {
    return this.serverClosed;
  }
}
