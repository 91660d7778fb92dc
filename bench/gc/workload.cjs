// A GC-heavy workload: many short-lived objects, so that with
// --max-semi-space-size=1 V8 runs thousands of scavenges (about 4,700 with
// the default size). Prints its own CPU time and, when procmeter is loaded,
// the scavenges procmeter counted, as JSON on the last line.
const ROUNDS = Number(process.env.GC_WORKLOAD_ROUNDS ?? 3000);

let survivors = [];
let checksum = 0;
for (let round = 0; round < ROUNDS; round++) {
  const batch = [];
  for (let i = 0; i < 2000; i++) batch.push({ round, i, label: `item-${i}`, values: [i, i + 1, i + 2] });
  checksum += batch[round % batch.length].values[1];
  // Keep a little, so some objects are promoted and old space grows too.
  if (round % 50 === 0) survivors.push(batch.slice(0, 100));
  if (survivors.length > 40) survivors = survivors.slice(20);
}

const cpu = process.cpuUsage();
let scavenges = null;
try {
  const procmeter = require.cache[require.resolve('procmeter')];
  if (procmeter) scavenges = procmeter.exports.collect().gc.scavenge.count;
} catch {
  // procmeter not loaded in this variant
}
console.log(JSON.stringify({ cpuSeconds: (cpu.user + cpu.system) / 1e6, scavenges, checksum }));
