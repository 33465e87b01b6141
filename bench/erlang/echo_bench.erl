%% The server node of bench/distribution.mjs: a registered `echo` process ({From, Msg} ->
%% From ! {echo, Msg}) and a registered gen_server `bench_gs` (call ping -> pong).
-module(echo_bench).
-behaviour(gen_server).
-export([start/0, echo_loop/0]).
-export([init/1, handle_call/3, handle_cast/2]).

start() ->
    true = register(echo, spawn(?MODULE, echo_loop, [])),
    {ok, _} = gen_server:start({local, bench_gs}, ?MODULE, [], []),
    io:format("ready~n").

echo_loop() ->
    receive
        {From, Msg} -> From ! {echo, Msg}
    end,
    echo_loop().

init([]) -> {ok, nostate}.

handle_call(ping, _From, State) -> {reply, pong, State}.

handle_cast(_Msg, State) -> {noreply, State}.
