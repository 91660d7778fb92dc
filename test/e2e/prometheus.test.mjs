// End to end with a real Prometheus server (Debian's prometheus package): it
// scrapes a service started with the zero-code start, and the names it
// stores are prom-client 15's (as prom-client produces them in this test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

import { procStartTimeSeconds, statusField } from '../helpers/ground-truth.mjs';
import { freePort } from '../helpers/net.mjs';

import promClient from 'prom-client';

const root = fileURLToPath(new URL('../../', import.meta.url));
const prometheusInstalled = spawnSync('prometheus', ['--version']).status === 0;
// CI sets this, so a missing server fails the run instead of skipping.
if (!prometheusInstalled && process.env.PROCMETER_REQUIRE_PROMETHEUS === '1') {
  throw new Error('PROCMETER_REQUIRE_PROMETHEUS=1 but no prometheus binary on PATH');
}

async function poll(what, check, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

/** prom-client 15's default metric names with samples, as Prometheus stores them. */
async function promClientSeriesNames() {
  const registry = new promClient.Registry();
  promClient.collectDefaultMetrics({ register: registry });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const names = new Set();
  for (const metric of await registry.getMetricsAsJSON()) {
    if (metric.values.length === 0) continue;
    if (metric.type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(metric.name + suffix);
    else names.add(metric.name);
  }
  return names;
}

test('a real Prometheus scrapes the demo service and stores prom-client’s names', { skip: !prometheusInstalled && 'prometheus is not installed (apt-get install prometheus)', timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'procmeter-prometheus-'));
  const [metricsPort, prometheusPort] = [await freePort(), await freePort()];
  const demo = spawn(process.execPath, ['demo/service.mjs'], {
    cwd: root,
    env: { ...process.env, DEMO_PORT: '0', OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort), OTEL_METRICS_EXPORTER: 'prometheus' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: procmeter-demo\n    static_configs:\n      - targets: ['127.0.0.1:${metricsPort}']\n`,
  );
  const prometheus = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${prometheusPort}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let prometheusLog = '';
  prometheus.stderr.setEncoding('utf8').on('data', (d) => (prometheusLog = (prometheusLog + d).slice(-4000)));
  const api = async (path) => (await (await fetch(`http://127.0.0.1:${prometheusPort}/api/v1/${path}`)).json()).data;
  try {
    await poll('the scrape target to be up', async () => {
      const targets = await api('targets');
      return targets.activeTargets.some((target) => target.health === 'up');
    });
    // A few scrapes, so counters have a rate; meanwhile the demo's resident
    // size, from /proc, every 50 ms.
    const rssReadings = [];
    const readRss = setInterval(() => rssReadings.push({ seconds: Date.now() / 1000, bytes: statusField('VmRSS', demo.pid) }), 50);
    await new Promise((resolve) => setTimeout(resolve, 4000));
    clearInterval(readRss);
    const stored = new Set(await api('label/__name__/values'));
    const expected = await promClientSeriesNames();
    // Left out by default, at the README's word (it costs ~0.5 ms per scrape).
    expected.delete('nodejs_eventloop_lag_stddev_seconds');
    const missing = [...expected].filter((name) => !stored.has(name));
    t.diagnostic(`Prometheus stored ${stored.size} names; prom-client’s with samples: ${expected.size}`);
    assert.deepEqual(missing, [], `prom-client names Prometheus did not get from procmeter`);

    const value = async (query) => {
      const result = await api(`query?query=${encodeURIComponent(query)}`);
      assert.ok(result.result.length > 0, `no result for ${query}`);
      return Number(result.result[0].value[1]);
    };
    // Each resident size Prometheus stored in those 4 s, with its scrape's
    // time, within what /proc said around then (it moves with the demo's
    // load; 1 MiB either way for the pages touched between the reads).
    const residents = (await api(`query?query=${encodeURIComponent('process_resident_memory_bytes[4s]')}`)).result[0].values;
    const checked = residents.filter(([seconds]) => seconds - 0.5 >= rssReadings[0].seconds && seconds + 0.5 <= rssReadings.at(-1).seconds);
    assert.ok(checked.length >= 2, `${checked.length} stored samples within the readings' time: ${JSON.stringify(residents)}`);
    for (const [seconds, text] of checked) {
      const near = rssReadings.filter((reading) => Math.abs(reading.seconds - seconds) <= 0.5).map((reading) => reading.bytes);
      const [low, high] = [Math.min(...near), Math.max(...near)];
      assert.ok(Number(text) >= low - 2 ** 20 && Number(text) <= high + 2 ** 20, `resident ${text} bytes stored at ${seconds}, VmRSS ${low}..${high} then`);
    }
    assert.ok((await value('rate(process_cpu_seconds_total[5s])')) > 0, 'the demo load uses CPU');
    assert.ok((await value('sum(nodejs_gc_duration_seconds_count)')) > 0);
    const startTime = await value('process_start_time_seconds');
    assert.ok(Math.abs(startTime - procStartTimeSeconds(demo.pid)) < 0.1, `start time ${startTime} stored, ${procStartTimeSeconds(demo.pid)} from /proc`);
  } finally {
    prometheus.kill('SIGTERM');
    demo.kill('SIGINT');
    await Promise.all([once(prometheus, 'exit'), once(demo, 'exit')]);
    rmSync(dir, { recursive: true, force: true });
    if (process.exitCode) console.error(prometheusLog);
  }
});
