// The quick-start demo: starts a local Erlang node pinned to one port (as in Kubernetes), connects
// to it without EPMD, pings it, makes an rpc and a GenServer call, and prints what happened.
// Run: npm run demo   (needs `erl` on PATH)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { atom, connect, inspect, type Peer, tuple } from 'erldist';

// A tiny counter gen_server, compiled inside the Erlang node at start.
const COUNTER = `
-module(demo_counter).
-behaviour(gen_server).
-export([start/0, init/1, handle_call/3, handle_cast/2]).
start() -> gen_server:start({local, counter}, demo_counter, 0, []).
init(N) -> {ok, N}.
handle_call({add, K}, _From, N) -> {reply, N + K, N + K};
handle_call(get, _From, N) -> {reply, N, N}.
handle_cast(reset, _N) -> {noreply, 0}.
`;
const BOOT = `
{ok, Toks, _} = erl_scan:string(os:getenv("DEMO_SRC")),
Forms = [F || Ts <- split(Toks), {ok, F} <- [erl_parse:parse_form(Ts)]],
{ok, Mod, Bin} = compile:forms(Forms, []),
{module, Mod} = code:load_binary(Mod, "demo_counter.erl", Bin),
{ok, _} = Mod:start(),
io:format("ready~n").
`.replace(
  'split(Toks)',
  'lists:reverse(element(2, lists:foldl(fun({dot, L}, {Cur, Acc}) -> {[], [lists:reverse([{dot, L} | Cur]) | Acc]}; (T, {Cur, Acc}) -> {[T | Cur], Acc} end, {[], []}, Toks)))',
);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const cookie = randomBytes(12).toString('hex');
const port = await freePort();
const nodeName = `demo${process.pid}@127.0.0.1`;
console.log(`starting Erlang node ${nodeName} on port ${port} ...`);
const erl = spawn(
  'erl',
  [
    '-noshell',
    '-name',
    nodeName,
    '-setcookie',
    cookie,
    '-kernel',
    'inet_dist_listen_min',
    String(port),
    'inet_dist_listen_max',
    String(port),
    '-eval',
    BOOT,
  ],
  { env: { ...process.env, DEMO_SRC: COUNTER, ERL_CRASH_DUMP_SECONDS: '0' }, stdio: ['ignore', 'pipe', 'inherit'] },
);
await new Promise<void>((resolve, reject) => {
  erl.on('error', reject);
  erl.on('exit', (code) => reject(new Error(`erl exited with ${code}`)));
  erl.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
});

let peer: Peer | undefined;
try {
  // name@host:port connects straight to the pinned port, without EPMD.
  peer = await connect(`${nodeName}:${port}`, { cookie });
  console.log(`connected as ${peer.node.name} (hidden)`);
  console.log('ping                            ->', await peer.ping());
  console.log(
    'rpc erlang:system_info(otp_release) ->',
    inspect(await peer.rpc('erlang', 'system_info', [atom('otp_release')])),
  );
  console.log('rpc lists:reverse([1,2,3])      ->', inspect(await peer.rpc('lists', 'reverse', [[1, 2, 3]])));
  console.log(
    'rpc erlang:now_to_datetime      ->',
    inspect(await peer.rpc('calendar', 'now_to_datetime', [await peer.rpc('erlang', 'timestamp', [])])),
  );
  console.log('call counter {add, 5}           ->', inspect(await peer.call('counter', tuple(atom('add'), 5))));
  console.log('call counter {add, 10}          ->', inspect(await peer.call('counter', tuple(atom('add'), 10))));
  peer.cast('counter', atom('reset'));
  console.log('cast counter reset; call get    ->', inspect(await peer.call('counter', atom('get'))));
  try {
    await peer.call('no_such_server', atom('get'));
  } catch (err) {
    console.log('call no_such_server             ->', (err as Error & { code: string }).code);
  }
} finally {
  await peer?.close();
  erl.kill();
}
