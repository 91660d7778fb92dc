// The by-type resource gauges (prom-client's nodejs_active_handles and
// nodejs_active_resources, semconv's v8js.resource.active) follow what is
// active: a type that is no longer active reads 0 at the next collection,
// in both modes, as prom-client's gauges (reset at every collection) do,
// rather than the count it had last.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { once } from 'node:events';

import { registerProcessMetrics } from 'procmeter';
import { manualProvider } from '../helpers/otel.mjs';

// A listening TCP server is a libuv handle that nothing else in the test
// process has: 'Server' by constructor (_getActiveHandles()), 'TCPServerWrap'
// by resource type (getActiveResourcesInfo()).
const SERIES = {
  prometheus: [
    ['nodejs_active_handles', 'type', 'Server'],
    ['nodejs_active_resources', 'type', 'TCPServerWrap'],
  ],
  semconv: [['v8js.resource.active', 'v8js.resource.type', 'TCPServerWrap']],
};

function valueOf(metrics, [name, key, type]) {
  const points = metrics.get(name)?.dataPoints.filter((point) => point.attributes[key] === type) ?? [];
  assert.ok(points.length <= 1, `${name}{${key}=${type}}: ${points.length} points`);
  return points[0]?.value;
}

// libuv frees a closed handle an event-loop turn or so after the close
// callback: waits for that, then checks with Node that no server is left.
async function serversGone() {
  for (let turn = 0; turn < 100 && process.getActiveResourcesInfo().includes('TCPServerWrap'); turn++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(process.getActiveResourcesInfo().filter((type) => type === 'TCPServerWrap').length, 0);
}

for (const mode of ['observable', 'push']) {
  for (const naming of ['prometheus', 'semconv']) {
    test(`${mode} mode, ${naming} naming: a resource type that is no longer active reads 0, not its last count`, async () => {
      const { provider, collect } = manualProvider();
      const handle = registerProcessMetrics({ meterProvider: provider, mode, naming, metricGroups: ['resources'] });
      const read = async () => {
        handle.update(); // push mode; nothing in observable mode
        return collect();
      };
      const servers = [createServer(), createServer()];
      try {
        for (const server of servers) await once(server.listen(0, '127.0.0.1'), 'listening');
        // Ground truth from Node itself at the same moment.
        assert.equal(process.getActiveResourcesInfo().filter((type) => type === 'TCPServerWrap').length, 2);
        const open = await read();
        for (const series of SERIES[naming]) assert.equal(valueOf(open, series), 2, `${series[0]} with two servers`);

        await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
        await serversGone();
        const closed = await read();
        for (const series of SERIES[naming]) assert.equal(valueOf(closed, series), 0, `${series[0]} once the servers are closed`);
        // And it stays 0 (not back to the old count) in the collections after.
        const later = await read();
        for (const series of SERIES[naming]) assert.equal(valueOf(later, series), 0, `${series[0]} a collection later`);
      } finally {
        for (const server of servers) if (server.listening) server.close();
        handle.shutdown();
      }
    });
  }
}

// The SDK keeps a registration's instruments (and their last values) after
// shutdown(): a type that went while procmeter was shut down must still read
// 0 once it is registered again with the same MeterProvider.
for (const mode of ['observable', 'push']) {
  test(`${mode} mode: a resource type that went while procmeter was shut down reads 0 after registering again`, async () => {
    const { provider, collect } = manualProvider();
    const register = () => registerProcessMetrics({ meterProvider: provider, mode, metricGroups: ['resources'] });
    const server = createServer();
    let handle = register();
    try {
      await once(server.listen(0, '127.0.0.1'), 'listening');
      handle.update();
      const open = await collect();
      for (const series of SERIES.prometheus) assert.equal(valueOf(open, series), 1, `${series[0]} with the server`);
      handle.shutdown();

      await new Promise((resolve) => server.close(resolve));
      await serversGone();

      handle = register();
      handle.update();
      const reRegistered = await collect();
      for (const series of SERIES.prometheus) assert.equal(valueOf(reRegistered, series), 0, `${series[0]} after registering again`);
    } finally {
      if (server.listening) server.close();
      handle.shutdown();
    }
  });
}

// Push mode records the 0 itself: a record() that throws then (an
// application's MeterProvider in trouble) must leave the 0 to the next
// update, not the last count in the SDK for good.
test('push mode: a 0 that a failing record() could not write is written by the next update', async () => {
  const { provider, collect } = manualProvider();
  let failing = false;
  const [name, key, type] = SERIES.prometheus[1];
  const flaky = {
    getMeter(...args) {
      const meter = provider.getMeter(...args);
      return new Proxy(meter, {
        get(target, property) {
          if (property !== 'createGauge') return Reflect.get(target, property).bind(target);
          return (gaugeName, ...rest) => {
            const gauge = target.createGauge(gaugeName, ...rest);
            if (gaugeName !== name) return gauge;
            return {
              record(value, attributes) {
                if (failing && attributes?.[key] === type) throw new Error('exporter trouble');
                gauge.record(value, attributes);
              },
            };
          };
        },
      });
    },
  };
  const handle = registerProcessMetrics({ meterProvider: flaky, mode: 'push', pushIntervalMs: 0, metricGroups: ['resources'] });
  const server = createServer();
  try {
    await once(server.listen(0, '127.0.0.1'), 'listening');
    handle.update();
    assert.equal(valueOf(await collect(), SERIES.prometheus[1]), 1, `${name} with the server`);

    await new Promise((resolve) => server.close(resolve));
    await serversGone();
    failing = true;
    handle.update();
    assert.equal(valueOf(await collect(), SERIES.prometheus[1]), 1, `${name}: the 0 was refused, the SDK still holds the last count`);

    failing = false;
    handle.update();
    assert.equal(valueOf(await collect(), SERIES.prometheus[1]), 0, `${name} once record() works again`);
  } finally {
    if (server.listening) server.close();
    handle.shutdown();
  }
});
