%% The BEAM side of bench/codec.mjs: builds the payloads, then times term_to_binary/binary_to_term on
%% them, one round per request, so that the Node side can alternate rounds with its own codecs.
%% Compiled with erlc at bench start. Protocol on standard I/O, one line each way:
%%   in:  "round <case> encode|decode <round_ms> <warmup_ms>"   out: "beam <case> <op> <ops_per_s>"
%%   in:  "quit"
-module(codec_bench).
-export([main/1]).

-define(OPTS, [{minor_version, 2}]).

main([Dir]) ->
    io:format("otp ~s ~s~n", [erlang:system_info(otp_release), erlang:system_info(version)]),
    Payloads = payloads(),
    lists:foreach(
      fun({Name, Term}) ->
              ok = file:write_file(filename:join(Dir, atom_to_list(Name) ++ ".etf"), term_to_binary(Term, ?OPTS))
      end, Payloads),
    io:format("payloads ok~n"),
    serve(maps:from_list(Payloads)).

serve(Payloads) ->
    case io:get_line("") of
        eof -> halt();
        Line ->
            case string:lexemes(string:trim(Line), " ") of
                ["round", Case, Op, RoundMs, WarmupMs] ->
                    Term = maps:get(list_to_existing_atom(Case), Payloads),
                    Rate = in_fresh_process(
                             fun() -> round(Op, Term, list_to_integer(RoundMs), list_to_integer(WarmupMs)) end),
                    io:format("beam ~s ~s ~.3f~n", [Case, Op, Rate]),
                    serve(Payloads);
                ["quit"] -> halt()
            end
    end.

round("encode", Term, RoundMs, WarmupMs) ->
    measure(fun(N) -> enc_loop(N, Term, 0) end, RoundMs, WarmupMs);
round("decode", Term, RoundMs, WarmupMs) ->
    Bin = term_to_binary(Term, ?OPTS),
    measure(fun(N) -> dec_loop(N, Bin, none) end, RoundMs, WarmupMs).

payloads() ->
    [{small_map, small_map()},
     {maps_1000, [user(I) || I <- lists:seq(1, 1000)]},
     {binary_1mib, binary_1mib()},
     {ints_100k, ints_100k()},
     {nested_100, nested(100)}].

small_map() ->
    #{id => 12345, name => <<"Alice Example">>, active => true, tags => [<<"a">>, <<"bb">>, 42]}.

user(I) ->
    Names = {<<"Alice">>, <<"Bob">>, <<"Chloé"/utf8>>, <<"Dmitri">>, <<"Eve">>,
             <<"François"/utf8>>, <<"Grace">>, <<"Hiro">>, <<"Łukasz"/utf8>>, <<"Zoë"/utf8>>},
    First = element(1 + I rem tuple_size(Names), Names),
    #{id => 10000 + I * 37,
      name => <<First/binary, " Example ", (integer_to_binary(I))/binary>>,
      active => I rem 3 =/= 0,
      tags => [<<"a">>, <<"bb">>, I rem 256]}.

binary_1mib() ->
    _ = rand:seed(exsss, {20, 24, 131}),
    rand:bytes(1048576).

ints_100k() ->
    _ = rand:seed(exsss, {7, 11, 13}),
    [int(I rem 3) || I <- lists:seq(0, 99999)].

int(0) -> rand:uniform(256) - 1;
int(1) -> rand:uniform(1 bsl 32) - 1 - (1 bsl 31);
int(2) -> rand:uniform(1 bsl 64) - 1 - (1 bsl 63).

nested(0) -> leaf;
nested(N) when N rem 2 =:= 0 -> [nested(N - 1)];
nested(N) -> {nested(N - 1), 1}.

enc_loop(0, _T, Acc) -> Acc;
enc_loop(N, T, Acc) -> enc_loop(N - 1, T, Acc + byte_size(term_to_binary(T, ?OPTS))).

dec_loop(0, _B, Last) -> Last;
dec_loop(N, B, _) -> dec_loop(N - 1, B, binary_to_term(B)).

in_fresh_process(F) ->
    Parent = self(),
    Ref = make_ref(),
    spawn_link(fun() -> Parent ! {Ref, F()} end),
    receive {Ref, R} -> R end.

now_ns() -> erlang:monotonic_time(nanosecond).

time_n(F, N) ->
    T0 = now_ns(),
    _ = F(N),
    now_ns() - T0.

calibrate(F, N, TargetNs) ->
    T = time_n(F, N),
    if T >= TargetNs div 10 -> max(1, round(N * TargetNs / max(T, 1)));
       true -> calibrate(F, N * 2, TargetNs)
    end.

warm(F, N, Deadline) ->
    _ = F(N),
    case now_ns() < Deadline of true -> warm(F, N, Deadline); false -> ok end.

%% One timed round of about RoundMs, after WarmupMs of untimed calls: calls per second.
measure(F, RoundMs, WarmupMs) ->
    RoundNs = RoundMs * 1000000,
    N0 = calibrate(F, 1, RoundNs),
    warm(F, max(1, N0 div 10), now_ns() + WarmupMs * 1000000),
    N = calibrate(F, max(1, N0 div 4), RoundNs),
    N * 1.0e9 / max(time_n(F, N), 1).
