// rpc:call from Node.js: npx tsx examples/rpc.ts app@host[:port]
import { atom, connect, ErldistError, inspect } from 'erldist';

const target = process.argv[2] ?? process.env.RELEASE_NODE;
if (!target) {
  console.error('usage: tsx examples/rpc.ts name@host[:port]');
  process.exit(2);
}
const peer = await connect(target);
try {
  console.log('otp_release:', inspect(await peer.rpc('erlang', 'system_info', [atom('otp_release')])));
  console.log('nodes(hidden):', inspect(await peer.rpc('erlang', 'nodes', [atom('hidden')])));
  console.log('memory total:', await peer.rpc('erlang', 'memory', [atom('total')]));
  // Errors on the remote side come back as BAD_RPC with the Erlang reason.
  await peer.rpc('no_such_module', 'f', []);
} catch (err) {
  if (err instanceof ErldistError && err.code === 'BAD_RPC') console.log('badrpc:', inspect(err.reason as never));
  else throw err;
} finally {
  await peer.close();
}
