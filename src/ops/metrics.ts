/**
 * A small metrics registry that writes the Prometheus text exposition format 0.0.4,
 * following prom-client's conventions (counters end in `_total`, durations are in
 * `_seconds`, sizes in `_bytes`, histograms have `_bucket{le=…}`, `_sum` and `_count`).
 *
 * Why not prom-client itself: the endpoint needs a dozen metrics, most of them read
 * from counters it keeps anyway, and a dependency (with its own global default
 * registry) for that is more than the hundred lines below. The registry is *pull*
 * oriented: the hot path increments plain numbers in its own objects, and collectors
 * registered with `onCollect` copy them into the families just before a scrape renders
 * them. Histograms are the exception: `observe` is called when the (rare) event
 * happens.
 *
 * Text format, per family (https://prometheus.io/docs/instrumenting/exposition_formats/):
 * ```
 * # HELP cohort_suspicions_total Members this endpoint began to suspect.
 * # TYPE cohort_suspicions_total counter
 * cohort_suspicions_total 2
 * ```
 * Label values escape `\`, `"` and newline; HELP text escapes `\` and newline.
 */
import { OptionError } from '../errors.js';

/** Label names to values of one series. */
export type Labels = Readonly<Record<string, string>>;

/** The kinds of metric family this registry writes. */
export type MetricType = 'counter' | 'gauge' | 'histogram';

const metricNameRe = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelNameRe = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Escape a label value for the text format: backslash, double quote, newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Escape HELP text for the text format: backslash and newline. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A sample value as the text format writes it (`+Inf`, `-Inf`, `NaN`, or the number). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** `{a="1",b="2"}`, or the empty string for no labels; `extra` goes last (a histogram's `le`). */
function formatLabels(names: readonly string[], values: readonly string[], extra?: string): string {
  const parts: string[] = [];
  for (let i = 0; i < names.length; i++) parts.push(`${names[i]}="${escapeLabelValue(values[i] ?? '')}"`);
  if (extra !== undefined) parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** What every family is made with. */
export interface FamilyOptions {
  /** The metric's name: `[a-zA-Z_:][a-zA-Z0-9_:]*`; a counter's ends in `_total`. */
  readonly name: string;
  /** One line (or more, escaped) saying what is measured, with its unit. */
  readonly help: string;
  /** The label names its series carry, in this order. @default [] */
  readonly labelNames?: readonly string[];
}

/** Options of a histogram family. */
export interface HistogramOptions extends FamilyOptions {
  /** Upper bounds of the buckets, strictly increasing; `+Inf` is added. */
  readonly buckets: readonly number[];
}

abstract class Family {
  /** The metric's name (see {@link FamilyOptions.name}). */
  readonly name: string;
  /** What is measured, with its unit: the `# HELP` line's text, unescaped. */
  readonly help: string;
  /** The label names its series carry, in this order (empty for none). */
  readonly labelNames: readonly string[];
  /** The family's kind: the `# TYPE` line's word. */
  abstract readonly type: MetricType;

  constructor(o: FamilyOptions) {
    if (!metricNameRe.test(o.name)) throw new OptionError(`metric name ${JSON.stringify(o.name)} is not valid`);
    const labelNames = o.labelNames ?? [];
    for (const l of labelNames) {
      if (!labelNameRe.test(l) || l.startsWith('__')) throw new OptionError(`label name ${JSON.stringify(l)} of ${o.name} is not valid`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new OptionError(`metric ${o.name} repeats a label name`);
    this.name = o.name;
    this.help = o.help;
    this.labelNames = labelNames;
  }

  /** The label values of `labels` in the family's order; every name must be given, no other. */
  protected valuesOf(labels: Labels | undefined): string[] {
    const given = labels === undefined ? [] : Object.keys(labels);
    if (given.length !== this.labelNames.length || given.some((k) => !this.labelNames.includes(k))) {
      throw new OptionError(`metric ${this.name} takes labels [${this.labelNames.join(', ')}], got [${given.join(', ')}]`);
    }
    return this.labelNames.map((k) => labels![k]!);
  }

  /** The family's lines, without a trailing newline. */
  render(): string {
    return [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`, ...this.samples()].join('\n');
  }

  protected abstract samples(): string[];
}

/** A family of plain values: a counter (only grows) or a gauge (any value). */
class ValueFamily extends Family {
  /** `counter` or `gauge`: the `# TYPE` line's word. */
  readonly type: 'counter' | 'gauge';
  private readonly series = new Map<string, { values: string[]; value: number }>();

  constructor(o: FamilyOptions, type: 'counter' | 'gauge') {
    super(o);
    if (type === 'counter' && !o.name.endsWith('_total')) throw new OptionError(`counter ${o.name} must end in _total`);
    this.type = type;
  }

  private cell(labels: Labels | undefined): { values: string[]; value: number } {
    const values = this.valuesOf(labels);
    const key = values.join('\u0000');
    let c = this.series.get(key);
    if (c === undefined) {
      c = { values, value: 0 };
      this.series.set(key, c);
    }
    return c;
  }

  /** The value of the series with `labels` (0 if it was never set). */
  get(labels?: Labels): number {
    return this.series.get(this.valuesOf(labels).join('\u0000'))?.value ?? 0;
  }

  /**
   * Forget the series with `labels`: it is no longer exposed, and the family holds no
   * memory of it. For a label value whose subject is gone (a group the endpoint left),
   * so that a family does not grow with every value it ever saw; a counter set again
   * later starts a new series (Prometheus reads that as a reset).
   */
  remove(labels?: Labels): void {
    this.series.delete(this.valuesOf(labels).join('\u0000'));
  }

  protected samples(): string[] {
    const out: string[] = [];
    for (const c of this.series.values()) out.push(`${this.name}${formatLabels(this.labelNames, c.values)} ${formatValue(c.value)}`);
    return out;
  }

  /** @internal */
  setValue(labels: Labels | undefined, value: number): void {
    this.cell(labels).value = value;
  }

  /** @internal */
  addValue(labels: Labels | undefined, n: number): void {
    this.cell(labels).value += n;
  }
}

/**
 * A counter: a total that only grows (its name ends in `_total`). `set` is for copying
 * a total kept elsewhere at collection time; it refuses to go down.
 */
export class Counter extends ValueFamily {
  /**
   * A counter family; its series appear when first incremented or set.
   *
   * @param o - name (ending in `_total`), help and label names
   * @throws OptionError when the name or a label name is not valid
   */
  constructor(o: FamilyOptions) {
    super(o, 'counter');
  }

  /** Add `n` (≥ 0, default 1) to the series with `labels`. */
  inc(labels?: Labels, n = 1): void {
    if (!(n >= 0)) throw new OptionError(`counter ${this.name} cannot go down (inc by ${n})`);
    this.addValue(labels, n);
  }

  /** Set the series to `total`, a count kept elsewhere; never lower than before. */
  set(labels: Labels | undefined, total: number): void {
    const before = this.get(labels);
    if (!(total >= before)) throw new OptionError(`counter ${this.name} cannot go down (${before} to ${total})`);
    this.setValue(labels, total);
  }
}

/** A gauge: a value that goes up and down (a queue's depth, a lag). */
export class Gauge extends ValueFamily {
  /**
   * A gauge family; its series appear when first set.
   *
   * @param o - name, help and label names
   * @throws OptionError when the name or a label name is not valid
   */
  constructor(o: FamilyOptions) {
    super(o, 'gauge');
  }

  /** Set the series with `labels` to `value`. */
  set(labels: Labels | undefined, value: number): void {
    this.setValue(labels, value);
  }
}

/**
 * A histogram: how many observations fell at or below each bucket's bound
 * (cumulative, as Prometheus wants), their sum and their count.
 */
export class Histogram extends Family {
  /** Always `histogram`: the `# TYPE` line's word. */
  readonly type = 'histogram' as const;
  /** Upper bounds of the buckets (without `+Inf`). */
  readonly buckets: readonly number[];
  private readonly series = new Map<string, { values: string[]; counts: number[]; sum: number; count: number }>();

  /**
   * A histogram family; its series appear when first observed or touched.
   *
   * @param o - name, help, label names (not `le`) and the buckets' upper bounds
   * @throws OptionError when a name is not valid or the buckets are not finite and strictly increasing
   */
  constructor(o: HistogramOptions) {
    super(o);
    if (o.labelNames?.includes('le') === true) throw new OptionError(`histogram ${o.name} cannot have a label named le`);
    if (o.buckets.length === 0 || o.buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= o.buckets[i - 1]!))) {
      throw new OptionError(`histogram ${o.name}: buckets must be finite and strictly increasing`);
    }
    this.buckets = [...o.buckets];
  }

  /** Record one observation of `value` in the series with `labels`. */
  observe(value: number, labels?: Labels): void {
    const values = this.valuesOf(labels);
    const key = values.join('\u0000');
    let s = this.series.get(key);
    if (s === undefined) {
      s = { values, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    // Counts are kept per bucket and made cumulative when rendered.
    const i = this.buckets.findIndex((b) => value <= b);
    if (i >= 0) s.counts[i]! += 1;
    s.sum += value;
    s.count += 1;
  }

  /** Make the series with `labels` appear (all zero) before its first observation. */
  touch(labels?: Labels): void {
    const values = this.valuesOf(labels);
    const key = values.join('\u0000');
    if (!this.series.has(key)) this.series.set(key, { values, counts: this.buckets.map(() => 0), sum: 0, count: 0 });
  }

  protected samples(): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += s.counts[i]!;
        out.push(`${this.name}_bucket${formatLabels(this.labelNames, s.values, `le="${formatValue(this.buckets[i]!)}"`)} ${cumulative}`);
      }
      out.push(`${this.name}_bucket${formatLabels(this.labelNames, s.values, 'le="+Inf"')} ${s.count}`);
      out.push(`${this.name}_sum${formatLabels(this.labelNames, s.values)} ${formatValue(s.sum)}`);
      out.push(`${this.name}_count${formatLabels(this.labelNames, s.values)} ${s.count}`);
    }
    return out;
  }
}

/**
 * A set of metric families rendered together.
 *
 * @example
 * ```ts
 * const r = new MetricsRegistry();
 * const sent = r.counter({ name: 'app_sent_total', help: 'Messages sent.', labelNames: ['group'] });
 * sent.inc({ group: 'g' });
 * r.expose(); // '# HELP app_sent_total Messages sent.\n# TYPE app_sent_total counter\napp_sent_total{group="g"} 1\n'
 * ```
 */
export class MetricsRegistry {
  private readonly families = new Map<string, Family>();
  private readonly collectors: (() => void)[] = [];

  /** Add a counter family; its name ends in `_total`. */
  counter(o: FamilyOptions): Counter {
    return this.add(new Counter(o));
  }

  /** Add a gauge family. */
  gauge(o: FamilyOptions): Gauge {
    return this.add(new Gauge(o));
  }

  /** Add a histogram family. */
  histogram(o: HistogramOptions): Histogram {
    return this.add(new Histogram(o));
  }

  /** Run `fn` before every `expose`, to copy values kept elsewhere into the families. */
  onCollect(fn: () => void): void {
    this.collectors.push(fn);
  }

  /** The text exposition (format 0.0.4) of every family, in the order they were added. */
  expose(): string {
    for (const c of this.collectors) c();
    let text = '';
    for (const f of this.families.values()) text += `${f.render()}\n`;
    return text;
  }

  private add<F extends Family>(f: F): F {
    if (this.families.has(f.name)) throw new OptionError(`metric ${f.name} is registered twice`);
    this.families.set(f.name, f);
    return f;
  }
}

/** The Content-Type of the text exposition format. */
export const metricsContentType = 'text/plain; version=0.0.4; charset=utf-8';
