import { strict as assert } from 'node:assert';
import {
  describeKinds,
  formatKilobytes,
  formatRatio,
  formatRequests,
  formatTiming,
  markdownTable,
  median,
  parseLatencies,
  parseRuns,
  percentile,
  roundRobin,
  summarize,
} from '../../tools/bench/stats';

describe('benchmark statistics (tools/bench/stats.ts)', () => {
  it('takes the median of odd and even counts, whatever the order', () => {
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([7]), 7);
  });

  it('interpolates percentiles between ranks (type 7)', () => {
    const samples = [10, 20, 30, 40, 50];
    assert.equal(percentile(samples, 0), 10);
    assert.equal(percentile(samples, 100), 50);
    assert.equal(percentile(samples, 10), 14);
    assert.equal(percentile(samples, 90), 46);
    assert.equal(percentile(samples, 25), 20);
  });

  it('refuses no samples and percentiles outside 0–100', () => {
    assert.throws(() => percentile([], 50), /no samples/);
    assert.throws(() => percentile([1], 101), /not between 0 and 100/);
    assert.throws(() => percentile([1], Number.NaN), /not between 0 and 100/);
  });

  it('does not reorder the caller’s samples', () => {
    const samples = [3, 1, 2];
    summarize(samples);
    assert.deepEqual(samples, [3, 1, 2]);
  });

  it('summarizes and formats timings, ratios, sizes and request counts', () => {
    const summary = summarize([100, 110, 120, 130, 140]);
    assert.deepEqual(summary, { count: 5, median: 120, p10: 104, p90: 136, min: 100, max: 140 });
    assert.equal(formatTiming(summary), '120 ms (104–136)');
    assert.equal(formatRatio(1.5), '1.50×');
    assert.equal(formatRatio(Number.POSITIVE_INFINITY), 'n/a');
    assert.equal(formatKilobytes(450 * 1024), '450.0 KB');
    assert.equal(formatRequests([2, 2, 2], '1 oidctoken + 1 token'), '2 (1 oidctoken + 1 token)');
    assert.equal(formatRequests([3, 4, 3]), '3–4');
    assert.equal(formatRequests([]), 'n/a');
    assert.equal(describeKinds(['oidctoken', 'token', 'oidctoken']), '2 oidctoken + 1 token');
  });

  it('writes a markdown table, escaping pipes', () => {
    assert.equal(
      markdownTable(['a', 'b'], [['1', 'x|y']]),
      ['| a | b |', '| --- | --- |', '| 1 | x\\|y |'].join('\n'),
    );
  });

  it('interleaves contenders round-robin', () => {
    assert.deepEqual(roundRobin(['a', 'b', 'c'], 2), ['a', 'b', 'c', 'a', 'b', 'c']);
    assert.deepEqual(roundRobin(['a'], 0), []);
  });

  it('parses the number of runs and the latencies', () => {
    assert.equal(parseRuns(undefined, 15), 15);
    assert.equal(parseRuns('', 15), 15);
    assert.equal(parseRuns('30', 15), 30);
    for (const bad of ['0', '-1', '2.5', 'ten', '1001'])
      assert.throws(() => parseRuns(bad, 15), /whole number/);
    assert.deepEqual(parseLatencies('0,50'), [0, 50]);
    assert.deepEqual(parseLatencies(' 0 , 200,0'), [0, 200]);
    for (const bad of [undefined, '', '0,', '-5', '1.5', '20000']) {
      assert.throws(() => parseLatencies(bad), /whole milliseconds/);
    }
  });
});
