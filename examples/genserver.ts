// GenServer call and cast into an Elixir node: npx tsx examples/genserver.ts app@host[:port]
//
// The Elixir side (for example in `iex --name app@127.0.0.1 --cookie secret`):
//
//   defmodule Stack do
//     use GenServer
//     def init(items), do: {:ok, items}
//     def handle_call(:pop, _from, [head | tail]), do: {:reply, head, tail}
//     def handle_call(:pop, _from, []), do: {:reply, nil, []}
//     def handle_cast({:push, item}, items), do: {:noreply, [item | items]}
//   end
//   GenServer.start(Stack, [], name: Stack)
import { atom, connect, inspect, tuple } from 'erldist';

const target = process.argv[2] ?? process.env.RELEASE_NODE;
if (!target) {
  console.error('usage: tsx examples/genserver.ts name@host[:port]');
  process.exit(2);
}
const peer = await connect(target);
// An Elixir module name is the atom 'Elixir.Stack'.
const stack = atom('Elixir.Stack');
try {
  peer.cast(stack, tuple(atom('push'), 'hello from Node.js'));
  peer.cast(stack, tuple(atom('push'), 42));
  console.log('pop ->', inspect(await peer.call(stack, atom('pop')), { syntax: 'elixir' }));
  console.log('pop ->', inspect(await peer.call(stack, atom('pop')), { syntax: 'elixir' }));
} finally {
  await peer.close();
}
