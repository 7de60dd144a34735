/**
 * Preload (`node -r`) that writes the process's peak resident set size in KB (process.resourceUsage().maxRSS)
 * to the file BENCH_RSS_FILE when it exits: the benchmark's fallback where GNU time is not installed.
 */
import { writeFileSync } from 'node:fs';

const file = process.env.BENCH_RSS_FILE;
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS)));
