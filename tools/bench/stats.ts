/** Pure helpers of `npm run bench` (tools/bench.ts): summary statistics and the markdown it prints. */

/**
 * The p-th percentile (0–100) of the samples, interpolating linearly between the two nearest ranks
 * (the "type 7" definition of R and NumPy's default). Throws on an empty list or p outside 0–100.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new Error('percentile of no samples');
  if (!(p >= 0 && p <= 100)) throw new Error(`percentile ${p} is not between 0 and 100`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const below = Math.floor(rank);
  const above = Math.ceil(rank);
  return sorted[below] + (sorted[above] - sorted[below]) * (rank - below);
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

export interface Summary {
  count: number;
  median: number;
  p10: number;
  p90: number;
  min: number;
  max: number;
}

export function summarize(samples: readonly number[]): Summary {
  return {
    count: samples.length,
    median: median(samples),
    p10: percentile(samples, 10),
    p90: percentile(samples, 90),
    min: Math.min(...samples),
    max: Math.max(...samples),
  };
}

/** `123 ms (118–131)`: median and the p10–p90 spread, whole milliseconds. */
export function formatTiming(summary: Summary): string {
  return `${Math.round(summary.median)} ms (${Math.round(summary.p10)}–${Math.round(summary.p90)})`;
}

/** A ratio with two significant decimals and a multiplication sign: `1.87×`. */
export function formatRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : 'n/a';
}

/** Bytes as KB (1024) with one decimal: `312.4 KB`. */
export function formatKilobytes(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

/**
 * Requests per run as the table shows them: `2` when every run made the same number, else `2–3`; with the
 * per-kind breakdown of the first run in parentheses when given.
 */
export function formatRequests(perRun: readonly number[], breakdown?: string): string {
  if (perRun.length === 0) return 'n/a';
  const low = Math.min(...perRun);
  const high = Math.max(...perRun);
  const count = low === high ? String(low) : `${low}–${high}`;
  return breakdown ? `${count} (${breakdown})` : count;
}

/** Counts per kind in first-seen order, e.g. `1 oidctoken + 1 token`. */
export function describeKinds(kinds: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const kind of kinds) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return [...counts].map(([kind, count]) => `${count} ${kind}`).join(' + ');
}

/** A markdown table; cells must not contain `|` (they are escaped if they do). */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  const line = (cells: readonly string[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Round-robin order: every contender once per round, the rounds one after another. */
export function roundRobin<T>(contenders: readonly T[], rounds: number): T[] {
  const order: T[] = [];
  for (let round = 0; round < rounds; round++) order.push(...contenders);
  return order;
}

/** Parses a positive whole number of runs from a CLI argument or environment variable, or the fallback. */
export function parseRuns(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const runs = Number(value);
  if (!Number.isInteger(runs) || runs < 1 || runs > 1000) {
    throw new Error(`The number of runs must be a whole number from 1 to 1000, not '${value}'`);
  }
  return runs;
}

/** Parses `0,50`: distinct whole milliseconds from 0 to 10000, in the order given. */
export function parseLatencies(value: string | undefined): number[] {
  const parts = (value ?? '').split(',').map((part) => part.trim());
  const latencies = parts.map(Number);
  if (parts.some((part) => !/^\d+$/.test(part)) || latencies.some((ms) => ms > 10_000)) {
    throw new Error(
      `Latencies must be comma-separated whole milliseconds from 0 to 10000, not '${value ?? ''}'`,
    );
  }
  return [...new Set(latencies)];
}
