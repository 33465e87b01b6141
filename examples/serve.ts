// A TypeScript service that Elixir (or Erlang) reaches by name, exactly as it would reach a BEAM node.
//   ERLANG_COOKIE=secret npx tsx examples/serve.ts            (registers ts@127.0.0.1 with EPMD)
//   ERLDIST_NO_EPMD=1 ... starts its own embedded EPMD when none runs (pods without an epmd binary)
//
// The Elixir side (`iex --name ex@127.0.0.1 --cookie secret`):
//
//   Node.ping(:"ts@127.0.0.1")                                  #=> :pong
//   GenServer.call({:prices, :"ts@127.0.0.1"}, {:quote, "ACME"}) #=> {:ok, 101.5}
//   GenServer.cast({:prices, :"ts@127.0.0.1"}, {:set, "ACME", 99.0})
//   :rpc.call(:"ts@127.0.0.1", :ts_math, :add, [1, 2])          #=> 3
//   :erpc.call(:"ts@127.0.0.1", :ts_math, :upcase, ["hi"])       #=> "HI"
//   send({:jobs, :"ts@127.0.0.1"}, {:work, 42})                 # printed by the TS side
import { atom, createNode, inspect, startEpmd, type Term, tuple } from 'erldist';

const name = process.env.ERLDIST_NAME ?? 'ts@127.0.0.1';
if (process.env.ERLDIST_NO_EPMD === '1') {
  const epmd = await startEpmd({ port: 0 });
  process.env.ERL_EPMD_PORT = String(epmd.port);
  console.log(`embedded EPMD on port ${epmd.port}`);
}
const node = createNode({ name, epmdPort: process.env.ERL_EPMD_PORT ? Number(process.env.ERL_EPMD_PORT) : undefined });
node.on('nodeup', (n) => console.log('nodeup', n));
node.on('nodedown', (n, err) => console.log('nodedown', n, err.code));
node.on('handshakeError', (err, peer) => console.log('refused', peer || 'a client', err.code));

const prices = new Map<string, number>([['ACME', 101.5]]);
node.serve('prices', {
  handleCall(request) {
    const [op, symbol] = request as Iterable<Term> as [Term, string];
    if (op === atom('quote') && prices.has(symbol)) return tuple(atom('ok'), prices.get(symbol)!);
    return tuple(atom('error'), atom('unknown'));
  },
  handleCast(request) {
    const [, symbol, price] = request as Iterable<Term> as [Term, string, number];
    prices.set(symbol, price);
  },
});
node.expose('ts_math', {
  add: (a, b) => (a as number) + (b as number),
  upcase: (s) => String(s).toUpperCase(),
});
const jobs = node.spawn();
node.register('jobs', jobs);
void (async () => {
  for await (const m of jobs) console.log('jobs:', inspect(m, { syntax: 'elixir' }));
})();

const { port } = await node.listen({ port: Number(process.env.ERLDIST_PORT ?? 0) });
console.log(`${node.name} listening on ${port}; Ctrl-C to stop`);
process.on('SIGINT', () => void node.close().then(() => process.exit(0)));
