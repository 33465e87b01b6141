// Ping a node: npx tsx examples/ping.ts app@host[:port]
// The cookie comes from ERLANG_COOKIE, RELEASE_COOKIE or ~/.erlang.cookie.
import { connect } from 'erldist';

const target = process.argv[2] ?? process.env.RELEASE_NODE;
if (!target) {
  console.error('usage: tsx examples/ping.ts name@host[:port]');
  process.exit(2);
}
const started = performance.now();
try {
  const peer = await connect(target, { timeout: 5000 });
  const pong = await peer.ping();
  console.log(pong ? `pong from ${peer.name} in ${(performance.now() - started).toFixed(1)} ms` : 'pang');
  await peer.close();
  process.exit(pong ? 0 : 1);
} catch (err) {
  console.error(`pang: ${(err as Error).message}`);
  process.exit(1);
}
