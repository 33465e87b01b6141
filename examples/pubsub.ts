// A Node.js service on an Elixir app's Phoenix.PubSub: npx tsx examples/pubsub.ts app@host[:port]
// (ERLANG_COOKIE=... as for the other examples). It prints the app's "orders" events and publishes
// an "inventory" event for each one.
//
// The Elixir side (for example `iex --name app@127.0.0.1 --cookie secret -S mix` in an app with
// `{Phoenix.PubSub, name: MyApp.PubSub}` in its supervision tree; any pool_size):
//
//   Phoenix.PubSub.subscribe(MyApp.PubSub, "inventory")
//   Phoenix.PubSub.broadcast(MyApp.PubSub, "orders", {:order_created, 42, %{sku: "A-1", qty: 2}})
//   flush()  # => {:reserved, 42, "A-1"}
//
// A LiveView or channel that subscribed to a topic gets what is broadcast on it as is: a
// `%Phoenix.Socket.Broadcast{}` is the map below with its `__struct__` key; Phoenix is not needed here.
import { atom, createNode, inspect, type Term, Tuple, tuple } from 'erldist';

const target = process.argv[2] ?? process.env.RELEASE_NODE;
if (!target) {
  console.error('usage: tsx examples/pubsub.ts name@host[:port]');
  process.exit(2);
}
const node = createNode();
await node.connect(target);
const ps = node.pubsub('MyApp.PubSub'); // discovers the pg scope of every connected node

const orders = ps.subscribe('orders');
process.once('SIGINT', () => void node.close());
for await (const event of orders) {
  console.log('orders ->', inspect(event, { syntax: 'elixir' }));
  const [tag, id, item] = event instanceof Tuple ? event.elements : [];
  if (tag !== atom('order_created')) continue;
  const sku = (item as { sku?: Term } | undefined)?.sku ?? null;
  ps.broadcast('inventory', tuple(atom('reserved'), id, sku ?? atom('nil')));
  // What a channel's "inventory:lobby" subscribers (a LiveView's handle_info) would take:
  const broadcast = {
    __struct__: atom('Elixir.Phoenix.Socket.Broadcast'),
    topic: 'inventory:lobby',
    event: 'reserved',
    payload: new Map<Term, Term>([['id', id]]),
  };
  // Channel processes push it to their sockets through Phoenix.Channel.Server's dispatcher.
  ps.broadcast('inventory:lobby', broadcast, { dispatcher: 'Phoenix.Channel.Server' });
}
