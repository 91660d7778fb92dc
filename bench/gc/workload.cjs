// A GC-heavy workload: tens of millions of short-lived objects and arrays,
// none alive for long, so that with --max-semi-space-size=1 V8 runs about
// 4,700 cheap scavenges and the cost of tracking each GC is as visible as it
// can be. (No strings: with strings built by concatenation, merely loading a
// library of some size before this loop flipped V8 into promoting garbage,
// 4x slower with ~100 mark-compacts, whatever tracked GCs.) Prints its own
// CPU time and, when procmeter is loaded, the scavenges procmeter counted,
// as JSON on the last line.
const OBJECTS = Number(process.env.GC_WORKLOAD_OBJECTS ?? 42_000_000);

function batch(start) {
  const items = new Array(256);
  for (let j = 0; j < 256; j++) items[j] = { i: start + j, pair: [j, start] };
  return items[start & 255].i;
}

let checksum = 0;
for (let i = 0; i < OBJECTS; i += 256) checksum += batch(i);

const cpu = process.cpuUsage();
let scavenges = null;
try {
  const procmeter = require.cache[require.resolve('procmeter')];
  if (procmeter) scavenges = procmeter.exports.collect().gc.scavenge.count;
} catch {
  // procmeter not loaded in this variant
}
console.log(JSON.stringify({ cpuSeconds: (cpu.user + cpu.system) / 1e6, scavenges, checksum }));
