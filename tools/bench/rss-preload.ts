/**
 * Preload (`node -r`) for the benchmark's separate resource runs, writing when the process exits:
 * - to BENCH_RSS_FILE, the peak resident set size in KB (process.resourceUsage().maxRSS): the fallback where
 *   GNU time is not installed;
 * - to BENCH_CPU_FILE, the user + system CPU time in microseconds (process.cpuUsage()): GNU time counts in
 *   10 ms ticks, too coarse for the differences measured, and CPU time, unlike wall time, hardly changes when
 *   other processes compete for the machine's cores.
 */
import { writeFileSync } from 'node:fs';

const rssFile = process.env.BENCH_RSS_FILE;
const cpuFile = process.env.BENCH_CPU_FILE;
process.on('exit', () => {
  if (rssFile) writeFileSync(rssFile, String(process.resourceUsage().maxRSS));
  if (cpuFile) {
    const { user, system } = process.cpuUsage();
    writeFileSync(cpuFile, String(user + system));
  }
});
