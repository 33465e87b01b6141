%% The Erlang client node of bench/distribution.mjs: the baseline of every measurement. Reads one
%% command a line on stdin and answers one `result ...` line on stdout; eof ends the node.
-module(bench_client).
-export([main/1]).

%% Bytes of the `tcp` case's packets: about an rpc's request (bench/distribution.mjs TCP_PACKET).
-define(TCP_PACKET, 150).

main([ServerName]) ->
    Server = list_to_atom(ServerName),
    case net_adm:ping(Server) of
        pong -> ok;
        pang -> io:format("error cannot reach ~s~n", [Server]), halt(3)
    end,
    io:format("otp ~s ~s~n", [erlang:system_info(otp_release), erlang:system_info(version)]),
    io:format("client ready~n"),
    loop(Server).

loop(Server) ->
    case io:get_line("") of
        eof -> halt();
        {error, _} -> halt();
        Line ->
            command(Server, string:lexemes(string:trim(Line), " ")),
            loop(Server)
    end.

command(Server, ["echo", Ms, InFlight, Size]) ->
    {Count, Us, CpuMs} = fresh(fun() -> echo(Server, int(Ms), int(InFlight), int(Size)) end),
    io:format("result echo ~w ~w ~w~n", [Count, Us, CpuMs]);
command(Server, ["rpc", Warm, N]) ->
    F = fun() -> Server = rpc:call(Server, erlang, node, []) end,
    report(rpc, fresh(fun() -> latencies(F, int(Warm), int(N)) end));
command(Server, ["call", Warm, N]) ->
    F = fun() -> pong = gen_server:call({bench_gs, Server}, ping) end,
    report(call, fresh(fun() -> latencies(F, int(Warm), int(N)) end));
command(_Server, ["tcp", Port, Warm, N]) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, int(Port), [binary, {packet, 4}, {active, false}, {nodelay, true}]),
    Packet = binary:copy(<<7>>, ?TCP_PACKET),
    F = fun() -> ok = gen_tcp:send(S, Packet), {ok, Packet} = gen_tcp:recv(S, 0) end,
    report(tcp, fresh(fun() -> latencies(F, int(Warm), int(N)) end)),
    gen_tcp:close(S);
command(_Server, ["quit"]) ->
    halt();
command(_Server, Other) ->
    io:format("error unknown command ~p~n", [Other]).

int(S) -> list_to_integer(S).

%% Runs F in a new process, so that every measurement starts with an empty mailbox.
fresh(F) ->
    Parent = self(),
    Ref = make_ref(),
    spawn_link(fun() -> Parent ! {Ref, F()} end),
    receive {Ref, R} -> R end.

%% Keeps InFlight messages in flight to {echo, Server}, one more for every reply; the message is
%% a counter (Size 0) or a binary of Size random bytes. Counts replies from the end of the first
%% burst until Ms have passed, then takes the rest in. Also returns the CPU time (user and system,
%% all threads) this node's OS process used meanwhile, in ms, as Node's process.cpuUsage counts it.
echo(Server, Ms, InFlight, Size) ->
    Dest = {echo, Server},
    Self = self(),
    Payload = payload(Size),
    lists:foreach(fun(I) -> Dest ! {Self, msg(I, Payload)} end, lists:seq(1, InFlight)),
    T0 = erlang:monotonic_time(),
    Cpu0 = cpu_ms(),
    Deadline = T0 + erlang:convert_time_unit(Ms, millisecond, native),
    {Count, T1} = echo_loop(Dest, Self, Payload, InFlight + 1, 0, Deadline),
    Cpu1 = cpu_ms(),
    drain(InFlight),
    {Count, erlang:convert_time_unit(T1 - T0, native, microsecond), Cpu1 - Cpu0}.

%% utime + stime from /proc/self/stat (fields 14 and 15, in ticks of 10 ms: CLK_TCK 100).
cpu_ms() ->
    {ok, Stat} = file:read_file("/proc/self/stat"),
    [_, AfterComm] = binary:split(Stat, <<") ">>),
    Fields = binary:split(AfterComm, <<" ">>, [global]),
    (binary_to_integer(lists:nth(12, Fields)) + binary_to_integer(lists:nth(13, Fields))) * 10.

payload(0) -> none;
payload(Size) -> rand:bytes(Size).

msg(I, none) -> I;
msg(_, Bin) -> Bin.

echo_loop(Dest, Self, Payload, Next, Count0, Deadline) ->
    receive {echo, _} -> ok end,
    Dest ! {Self, msg(Next, Payload)},
    Count = Count0 + 1,
    case Count band 255 of
        0 ->
            Now = erlang:monotonic_time(),
            if Now >= Deadline -> {Count, Now};
               true -> echo_loop(Dest, Self, Payload, Next + 1, Count, Deadline)
            end;
        _ ->
            echo_loop(Dest, Self, Payload, Next + 1, Count, Deadline)
    end.

drain(0) -> ok;
drain(N) -> receive {echo, _} -> drain(N - 1) after 10000 -> exit(echo_lost) end.

%% Warm calls, then N timed ones: the sorted latencies in nanoseconds, and the CPU ms this node
%% used for the timed ones.
latencies(F, Warm, N) ->
    lists:foreach(fun(_) -> F() end, lists:seq(1, Warm)),
    Cpu0 = cpu_ms(),
    Lat = [begin
               T0 = erlang:monotonic_time(),
               F(),
               erlang:convert_time_unit(erlang:monotonic_time() - T0, native, nanosecond)
           end || _ <- lists:seq(1, N)],
    {lists:sort(Lat), cpu_ms() - Cpu0}.

%% Nearest-rank percentiles and CPU per call, in microseconds.
report(Name, {Sorted, CpuMs}) ->
    N = length(Sorted),
    P = fun(Q) -> lists:nth(max(1, ceil(Q * N)), Sorted) / 1000 end,
    io:format("result ~s ~.2f ~.2f ~.2f~n", [Name, P(0.50), P(0.99), CpuMs * 1000 / N]).
