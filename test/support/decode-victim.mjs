// The node under attack in test/interop/hostile.test.ts, in a process of its own with a small V8
// heap (--max-old-space-size): a decode that spent the memory a hostile frame asks for would kill it
// with "JavaScript heap out of memory" instead of failing one message. It connects to a real node
// and to a hostile peer that sends decode bombs to the mailbox `victim`, samples its heap, checks that
// the real node still answers, and prints one JSON line.
//   node --max-old-space-size=N decode-victim.mjs <dist/index.js> <real node> <hostile name@host:port> <cookie> <epmd port> <bombs>
import { pathToFileURL } from 'node:url';

const [dist, real, hostile, cookie, epmdPort, bombs] = process.argv.slice(2);
const { createNode } = await import(pathToFileURL(dist).href);
const node = createNode({ name: `victim${process.pid}@127.0.0.1`, cookie, epmdPort: Number(epmdPort) });
const before = process.memoryUsage().heapUsed;
let peak = before;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().heapUsed);
}, 2);
const events = [];
let decodes = 0;
node.on('warning', (err) => {
  events.push(`warning:${err?.code}`);
  if (err?.code === 'DECODE') decodes += 1;
});
node.on('nodedown', (name, err) => {
  const code = err?.cause?.code ?? err?.code;
  events.push(`nodedown:${name === real ? 'real' : 'hostile'}:${code}`);
  if (name !== real && code === 'DECODE') decodes += 1;
});
const victim = node.spawn();
node.register('victim', victim);
const realPeer = await node.connect(real);
const started = Date.now();
await node.connect(hostile, { reconnect: false });
while (decodes < Number(bombs) && Date.now() - started < 60_000) await new Promise((r) => setTimeout(r, 20));
const elapsed = Date.now() - started;
const answer = await realPeer.rpc('erlang', 'node', []);
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().heapUsed);
console.log(
  JSON.stringify({
    events,
    decodes,
    elapsed,
    before,
    peak,
    delivered: victim.size,
    real: String(answer?.name ?? answer),
  }),
);
await node.close();
