/**
 * Erlang source of the `erldist_term_server` module that {@link ErlPort} sends to a fresh `erl` as
 * its first packet; the boot expression compiles and loads it from memory (nothing on the runtime's
 * file system is needed, so it works inside chroots too) and calls `loop(Port)`.
 *
 * Protocol: every request is one `{packet, 4}` frame `<<Op, Payload/binary>>`; every request gets
 * exactly one reply frame, in order. Integers are big-endian.
 *
 *   g  <<Seed:64, Count:32, Flags:8>>  -> <<Count:32, [<<Len:32, Etf:Len/binary>>]...>>
 *        Count random terms from a generator seeded with rand:seed(exsss, Seed), each encoded with
 *        term_to_binary(T, [{minor_version, 2}]). Flags: bit 0 = no maps, bit 1 = no funs.
 *   q  <<Len1:32, Etf1:Len1/binary, Etf2/binary>> -> <<1>> if the decoded terms are =:=, <<0>> if
 *        not, <<2, ErrorText/binary>> if either fails to decode (UTF-8 text).
 *   b  <<[<<Len:32, Etf:Len/binary>>]...>> -> <<[<<Len:32, Etf2:Len/binary>>]...>> re-encoding
 *        each with term_to_binary(binary_to_term(Etf), [{minor_version, 2}]); Len = 0 (no bytes)
 *        where binary_to_term fails.
 *   e  <<Source/binary>> (UTF-8 Erlang expressions ending with a dot, evaluated with erl_eval and
 *        empty bindings) -> term_to_binary(Value, [{minor_version, 2}]), or
 *        term_to_binary({error, Class, Reason}, [{minor_version, 2}]) on any error.
 *   c  <<Level:8, Etf/binary>> -> term_to_binary(binary_to_term(Etf), [{compressed, Level},
 *        {minor_version, 2}]); an empty reply if binary_to_term fails.
 *   v  <<>> -> the otp_release string, e.g. <<"27">>.
 *
 * Any other failure (unknown op, malformed payload) is fatal: the reason goes to stderr and the
 * runtime halts with status 3, so the TypeScript side rejects with stderr in the message. The
 * runtime halts with status 0 when stdin is closed.
 *
 * The source is plain ASCII and must compile on every supported OTP release (25 and newer); it
 * is written for this project, not taken from OTP.
 */
export const ERL_TERM_SERVER_MODULE = 'erldist_term_server';

export const ERL_TERM_SERVER_SOURCE = String.raw`
-module(erldist_term_server).
-export([loop/1, handle/2, generate/3, gen/1, leaf/0]).

%% ---------------------------------------------------------------------------------------------
%% Request loop

loop(Port) ->
    process_flag(trap_exit, true),
    %% The default logger handler writes to standard_io, which is our reply channel: move it.
    _ = logger:remove_handler(default),
    _ = logger:add_handler(default, logger_std_h, #{config => #{type => standard_error}}),
    serve(Port).

serve(Port) ->
    receive
        {Port, {data, <<Op, Payload/binary>>}} ->
            Reply = try handle(Op, Payload)
                    catch Class:Reason:Stack ->
                        fatal("request ~c failed: ~tp:~tp~n~tp", [Op, Class, Reason, Stack])
                    end,
            true = port_command(Port, Reply),
            serve(Port);
        {Port, {data, <<>>}} ->
            fatal("empty request frame", []);
        {Port, eof} ->
            erlang:halt(0);
        {'EXIT', Port, _} ->
            erlang:halt(0);
        _Other ->
            serve(Port)
    end.

fatal(Format, Args) ->
    io:format(standard_error, "erldist_term_server: " ++ Format ++ "~n", Args),
    erlang:halt(3).

etf(Term) -> term_to_binary(Term, [{minor_version, 2}]).

handle($g, <<Seed:64, Count:32, Flags:8>>) ->
    Terms = generate(Seed, Count, Flags),
    [<<Count:32>> | [begin B = etf(T), [<<(byte_size(B)):32>>, B] end || T <- Terms]];
handle($q, <<Len1:32, Etf1:Len1/binary, Etf2/binary>>) ->
    try {binary_to_term(Etf1), binary_to_term(Etf2)} of
        {T1, T2} when T1 =:= T2 -> <<1>>;
        {_, _} -> <<0>>
    catch Class:Reason ->
        [2, unicode:characters_to_binary(io_lib:format("~tp:~tp", [Class, Reason]))]
    end;
handle($b, Payload) ->
    reencode_all(Payload, []);
handle($e, Source) ->
    try
        {ok, Tokens, _} = erl_scan:string(unicode:characters_to_list(Source)),
        {ok, Exprs} = erl_parse:parse_exprs(Tokens),
        {value, Value, _} = erl_eval:exprs(Exprs, erl_eval:new_bindings()),
        etf(Value)
    catch Class:Reason ->
        etf({error, Class, Reason})
    end;
handle($c, <<Level:8, Etf/binary>>) ->
    try binary_to_term(Etf) of
        Term -> term_to_binary(Term, [{compressed, Level}, {minor_version, 2}])
    catch error:_ -> <<>>
    end;
handle($v, <<>>) ->
    list_to_binary(erlang:system_info(otp_release)).

reencode_all(<<>>, Acc) ->
    lists:reverse(Acc);
reencode_all(<<Len:32, Etf:Len/binary, Rest/binary>>, Acc) ->
    Out = try etf(binary_to_term(Etf)) catch error:_ -> <<>> end,
    reencode_all(Rest, [[<<(byte_size(Out)):32>>, Out] | Acc]).

%% ---------------------------------------------------------------------------------------------
%% Random term generator. Deterministic for a seed, except for values that are unique per
%% runtime (self(), make_ref(), local ports, fun creator pids).

generate(Seed, Count, Flags) ->
    _ = rand:seed(exsss, Seed),
    put(erldist_flags, Flags),
    [gen(4) || _ <- lists:seq(1, Count)].

maps_allowed() -> get(erldist_flags) band 1 =:= 0.
funs_allowed() -> get(erldist_flags) band 2 =:= 0.

u(N) -> rand:uniform(N).
pick(List) -> lists:nth(u(length(List)), List).
times(N, F) -> [F() || _ <- lists:seq(1, N)].

gen(D) when D =< 0 -> leaf();
gen(D) ->
    case u(24) of
        N when N =< 9 -> leaf();
        10 -> tuple(D);
        11 -> tuple(D);
        12 -> list(D);
        13 -> list(D);
        14 -> improper(D);
        15 -> charlist();
        16 -> codepoint_list();
        17 -> case u(3) of 1 -> big_tuple(); _ -> tuple(D) end;
        18 -> map_or_leaf(D);
        19 -> map_or_leaf(D);
        20 -> case u(3) of 1 -> big_map_or_leaf(); _ -> map_or_leaf(D) end;
        21 -> local_fun_or_leaf(D);
        22 -> local_fun_or_leaf(D);
        23 -> export_fun_or_leaf();
        24 -> [gen(D - 1) | gen(D - 1)]
    end.

leaf() ->
    case u(22) of
        1 -> small_int();
        2 -> small_int();
        3 -> boundary_int();
        4 -> boundary_int();
        5 -> big_int();
        6 -> random_float();
        7 -> special_float();
        8 -> atom();
        9 -> atom();
        10 -> special_atom();
        11 -> binary();
        12 -> utf8_binary();
        13 -> bitstring();
        14 -> pid();
        15 -> ref();
        16 -> port();
        17 -> [];
        18 -> {};
        19 -> pick([<<>>, #{}, "", [[]], {{}}, 0, -1, 0.5]);
        20 -> short_charlist();
        21 -> export_fun_or_leaf();
        22 -> pick(["hello", "caf" ++ [233], [955, 128512]])
    end.

%% Cheap leaves for the elements of large tuples and maps.
tiny_leaf() ->
    case u(8) of
        1 -> small_int();
        2 -> u(1 bsl 40) - (1 bsl 39);
        3 -> random_float();
        4 -> pick([ok, true, false, '', undefined, list_to_atom([955])]);
        5 -> rand:bytes(u(8) - 1);
        6 -> [];
        7 -> {u(100)};
        8 -> atom_char()
    end.

%% --- integers

small_int() ->
    case u(4) of
        1 -> u(256) - 1;                 % SMALL_INTEGER_EXT
        2 -> -u(300);
        3 -> u(1 bsl 31) - 1;            % INTEGER_EXT, non-negative
        4 -> -u(1 bsl 31)                % INTEGER_EXT, negative
    end.

boundary_int() ->
    Bits = pick([7, 8, 15, 16, 27, 28, 31, 32, 33, 47, 48, 52, 53, 59, 60, 63, 64, 65, 127, 128,
                 255, 256, 1000, 2039, 2040, 2041]),
    V = (1 bsl Bits) + pick([-2, -1, 0, 1]),
    case u(2) of 1 -> V; 2 -> -V end.

big_int() ->
    Bytes = case u(10) of
                10 -> 256 + u(150);       % LARGE_BIG_EXT
                _ -> u(40)
            end,
    <<Mag:Bytes/unit:8>> = rand:bytes(Bytes),
    case u(2) of 1 -> Mag; 2 -> -Mag end.

%% --- floats

random_float() ->
    case u(5) of
        1 -> rand:uniform() * math:pow(10, u(600) - 300);
        2 -> -rand:uniform() * math:pow(10, u(40) - 20);
        3 -> float(u(1 bsl 53)) * pick([1, -1]);
        4 -> bits_float();
        5 -> (u(2000) - 1000) / 8
    end.

bits_float() ->
    case rand:bytes(8) of
        <<F:64/float>> -> F;
        _ -> 1.5                          % NaN and infinities do not exist in Erlang
    end.

special_float() ->
    case u(14) of
        1 -> 0.0;
        2 -> neg_zero();
        3 -> 1.0;
        4 -> -1.0;
        5 -> 1.0e300;
        6 -> -1.0e300;
        7 -> 5.0e-324;                    % smallest subnormal
        8 -> 2.2250738585072014e-308;     % smallest normal
        9 -> 1.7976931348623157e308;      % largest finite
        10 -> 0.1;
        11 -> 9007199254740992.0;         % 2^53
        12 -> 1.0e16;
        13 -> 123456789.0;
        14 -> 3.141592653589793
    end.

neg_zero() ->
    <<F:64/float>> = <<1:1, 0:63>>,
    F.

%% --- atoms

atom() ->
    Len = case u(12) of
              12 -> 255;
              11 -> 200 + u(55);
              _ -> u(16)
          end,
    list_to_atom(times(Len, fun atom_char/0)).

atom_char() ->
    case u(10) of
        N when N =< 6 -> pick("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@");
        7 -> pick([233, 252, 246, 255, 192, 223, 241]);           % latin-1
        8 -> pick([955, 960, 1046, 8364, 20013, 12354, 1488]);    % BMP
        9 -> pick([128512, 128640, 129302, 66560]);               % astral (emoji etc.)
        10 -> u(16#7F)
    end.

special_atom() ->
    case u(10) of
        1 -> '';
        2 -> true;
        3 -> false;
        4 -> undefined;
        5 -> list_to_atom([233]);
        6 -> list_to_atom([955]);
        7 -> list_to_atom([128512]);
        8 -> list_to_atom(lists:duplicate(255, $a));
        9 -> list_to_atom(lists:duplicate(255, 955));
        10 -> node()
    end.

%% --- binaries and bitstrings

binary() ->
    case u(6) of
        1 -> <<>>;
        2 -> rand:bytes(64 + u(300));     % off-heap (refc) sized binary
        _ -> rand:bytes(u(24))
    end.

utf8_binary() ->
    unicode:characters_to_binary(codepoints(u(20) - 1)).

bitstring() ->
    Bytes = rand:bytes(u(10) - 1),
    Bits = u(7),
    Last = u(1 bsl Bits) - 1,
    <<Bytes/binary, Last:Bits>>.

%% --- lists

list(D) ->
    times(u(7) - 1, fun() -> gen(D - 1) end).

improper(D) ->
    Head = times(u(3), fun() -> gen(D - 1) end),
    Head ++ non_list(D - 1).

non_list(D) ->
    case gen(D) of
        L when is_list(L) -> pick([an_atom, 42, <<"tail">>, 1.5, {}]);
        T -> T
    end.

charlist() ->
    case u(100) of
        100 -> byte_list(pick([65535, 65536, 65537 + u(200)]));  % around the STRING_EXT limit
        N when N >= 95 -> byte_list(256 + u(1000));
        _ -> short_charlist()
    end.

short_charlist() -> byte_list(u(40) - 1).

byte_list(Len) -> binary_to_list(rand:bytes(Len)).

codepoint_list() ->
    codepoints(u(20)).

codepoints(N) -> times(N, fun codepoint/0).

codepoint() ->
    case u(5) of
        1 -> u(128) - 1;
        2 -> 127 + u(1920);
        3 -> 2047 + u(16#D7FF - 2047);
        4 -> 16#DFFF + u(16#FFFF - 16#DFFF);
        5 -> 16#FFFF + u(16#10FFFF - 16#FFFF)
    end.

%% --- tuples

tuple(D) ->
    list_to_tuple(times(u(7) - 1, fun() -> gen(D - 1) end)).

big_tuple() ->
    Arity = case u(4) of
                1 -> 255;
                2 -> 256;
                _ -> 256 + u(100)
            end,
    list_to_tuple(times(Arity, fun tiny_leaf/0)).

%% --- maps

map_or_leaf(D) ->
    case maps_allowed() of
        false -> leaf();
        true ->
            N = u(8) - 1,
            case u(5) of
                1 -> #{};
                2 -> maps:from_list(times(N, fun() -> {atom(), gen(D - 1)} end));
                3 -> maps:from_list(times(N, fun() -> {binary(), gen(D - 1)} end));
                4 -> maps:from_list(times(N, fun() -> {scalar_key(), gen(D - 1)} end));
                5 -> maps:from_list(times(N, fun() -> {gen(D - 1), map_or_leaf(D - 1)} end))
            end
    end.

scalar_key() ->
    case u(6) of
        1 -> small_int();
        2 -> big_int();
        3 -> random_float();
        4 -> {atom(), small_int()};
        5 -> special_float();
        6 -> leaf()
    end.

big_map_or_leaf() ->
    case maps_allowed() of
        false -> leaf();
        true ->
            N = 33 + u(40),
            M = maps:from_list(times(N, fun() -> {tiny_leaf(), tiny_leaf()} end)),
            case u(2) of
                1 -> M;
                2 -> maps:put(nested, #{inner => M, n => N}, M)
            end
    end.

%% --- pids, references and ports

node_atom() ->
    pick(['other@host', 'n1@127.0.0.1', 'a@b', 'erldist@localhost',
          list_to_atom("n" ++ [246] ++ "de@h" ++ [955] ++ "st"),
          list_to_atom("long_" ++ lists:duplicate(60, $x) ++ "@host.example.com")]).

atom_etf(A) ->
    B = atom_to_binary(A, utf8),
    <<119, (byte_size(B)):8, B/binary>>.                 % SMALL_ATOM_UTF8_EXT

u32() -> u(1 bsl 32) - 1.

creation() ->
    case u(4) of
        1 -> u(3);
        _ -> u32()
    end.

pid() ->
    case u(3) of
        1 -> self();
        _ ->
            {Id, Serial} = case u(2) of
                               1 -> {u(1 bsl 15) - 1, u(1 bsl 13) - 1};
                               2 -> {u32(), u32()}
                           end,
            binary_to_term(<<131, 88, (atom_etf(node_atom()))/binary,
                             Id:32, Serial:32, (creation()):32>>)
    end.

ref() ->
    case u(3) of
        1 -> make_ref();
        _ ->
            Words = 2 + u(3),
            binary_to_term(<<131, 90, Words:16, (atom_etf(node_atom()))/binary, (creation()):32,
                             (rand:bytes(4 * Words))/binary>>)
    end.

port() ->
    case u(3) of
        1 -> hd(erlang:ports());
        _ ->
            Id = case u(2) of
                     1 -> u(1 bsl 28) - 1;
                     2 -> u(1 bsl 64) - 1
                 end,
            binary_to_term(<<131, 120, (atom_etf(node_atom()))/binary, Id:64, (creation()):32>>)
    end.

%% --- funs

export_fun_or_leaf() ->
    case funs_allowed() of
        false -> leaf();
        true ->
            case u(4) of
                1 -> fun erlang:node/0;
                2 -> erlang:make_fun(erlang, node, 0);
                3 -> erlang:make_fun(lists, map, 2);
                4 -> erlang:make_fun(atom(), atom(), u(256) - 1)
            end
    end.

local_fun_or_leaf(D) ->
    case funs_allowed() of
        false -> leaf();
        true ->
            X = gen(D - 1),
            Y = gen(D - 1),
            case u(7) of
                1 -> fun() -> X end;
                2 -> fun(A) -> {A, X} end;
                3 -> fun(A, B) -> [A, B, X | Y] end;
                4 -> fun() -> ok end;
                5 -> Z = u(1000), fun(A) -> A + Z end;
                6 -> F = fun(A) -> {X, A} end, fun(A) -> F(Y) =:= A end;
                7 -> fun Loop(0) -> X; Loop(N) -> Loop(N - 1) end
            end
    end.
`;
