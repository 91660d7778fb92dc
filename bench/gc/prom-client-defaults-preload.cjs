// Preloaded by bench/startup.mjs: prom-client with its default metrics
// collecting, the set procmeter replaces.
require('prom-client').collectDefaultMetrics();
