%% The server node of bench/distribution.mjs: a registered `echo` process ({From, Msg} ->
%% From ! {echo, Msg}), a registered gen_server `bench_gs` (call ping -> pong), and a plain TCP
%% echo of {packet, 4} packets (the `tcp` case: the runtimes' own round trip, without distribution).
-module(echo_bench).
-behaviour(gen_server).
-export([start/0, echo_loop/0]).
-export([init/1, handle_call/3, handle_cast/2]).

start() ->
    true = register(echo, spawn(?MODULE, echo_loop, [])),
    {ok, _} = gen_server:start({local, bench_gs}, ?MODULE, [], []),
    % The listening socket belongs to the acceptor: it would close when this process ends.
    Self = self(),
    spawn(fun() ->
        {ok, L} = gen_tcp:listen(0, [binary, {packet, 4}, {active, false}, {nodelay, true}]),
        {ok, Port} = inet:port(L),
        Self ! {tcp_port, Port},
        tcp_accept(L)
    end),
    receive {tcp_port, Port} -> io:format("tcp ~w~n", [Port]) end,
    io:format("ready~n").

tcp_accept(L) ->
    {ok, S} = gen_tcp:accept(L),
    Pid = spawn(fun() -> receive go -> tcp_echo(S) end end),
    ok = gen_tcp:controlling_process(S, Pid),
    Pid ! go,
    tcp_accept(L).

tcp_echo(S) ->
    case gen_tcp:recv(S, 0) of
        {ok, Packet} ->
            ok = gen_tcp:send(S, Packet),
            tcp_echo(S);
        {error, _} ->
            ok
    end.

echo_loop() ->
    receive
        {From, Msg} -> From ! {echo, Msg}
    end,
    echo_loop().

init([]) -> {ok, nostate}.

handle_call(ping, _From, State) -> {reply, pong, State}.

handle_cast(_Msg, State) -> {noreply, State}.
