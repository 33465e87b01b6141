/** The help texts of the `erldist` command: `erldist --help` and `erldist COMMAND --help`. */
import { SLOT_PREFIX, SLOTS } from './slot.js';

export const EXIT_HELP = `Exit codes:
  0  ok: pong, the value printed, the message delivered, the list printed
  1  the node answered, but not as asked: pang, an error from the call (BAD_RPC, NO_PROC, ...),
     a node with another name part answered (WRONG_NODE), or --timeout passed during the call;
     also any unexpected error
  2  usage: unknown command or option, missing arguments, a term that does not parse, no cookie
  3  no connection: EPMD unreachable or the name unknown to it, TCP refused, the handshake refused
     (AUTH_FAILED: wrong cookie), or --timeout passed before the connection was up;
     for epmd: its port could not be opened
`;

export const GLOBAL_HELP = `erldist: talk to Erlang and Elixir nodes from the command line

Usage: erldist <command> [options] [arguments]

Commands:
  ping [NODE]                      ping a node (pong and the round-trip time)
  rpc [NODE] MODULE FUNCTION [ARG ...]
                                   call MODULE:FUNCTION(ARG, ...) on the node (rpc:call)
  eval [NODE] EXPR                 evaluate an Erlang expression (Elixir code with --elixir)
  send [NODE] NAME TERM            send TERM to the process registered as NAME
  names [HOST]                     list the nodes EPMD on HOST knows (default 127.0.0.1)
  epmd [--port N]                  run an EPMD server in Node.js (default port 4369)

NODE is name@host, or name@host:port to connect to that port without EPMD; it defaults to
$RELEASE_NODE. The node that answers must have the name part asked for; its host part may differ.
Terms are written in Erlang syntax ('[1, {a, <<"b">>}]', "charlist", 'quoted atom'), or Elixir
syntax with --elixir (%{k: 1}, "binary", :atom).

Options:
  --cookie C      the cookie (default: $ERLANG_COOKIE, $RELEASE_COOKIE, ~/.erlang.cookie)
  --name N        this node's name (default: the first free of ${SLOT_PREFIX}-0 ... -${SLOTS - 1} at this
                  host, so that repeated runs add no atoms on the target; a unique name if all are busy)
  --timeout MS    one deadline for the whole command: EPMD, TCP, handshake and the call (default 10000)
  --tls           distribution over TLS (-proto_dist inet_tls), checking the node with the system's CAs
  --ssl-dist-optfile FILE
                  TLS with OTP's ssl_dist_optfile (its client section); both also come from
                  -proto_dist inet_tls -ssl_dist_optfile FILE in $ERL_AFLAGS, $ERL_FLAGS,
                  $ELIXIR_ERL_OPTIONS or $ERL_ZFLAGS, as a release's pod has them
  --elixir        read and print Elixir syntax
  --json          print results as JSON, and errors as JSON on stderr: {"code", "message", "node", "exit"}
  -h, --help      help for a command

${EXIT_HELP}`;

export const HELP: Record<string, string> = {
  ping: `Usage: erldist ping [NODE] [options]

Prints "pong" and the round-trip time; exits 0 on pong, 1 on pang or when a node of another name
answers, 3 when no connection is made within --timeout. As a Kubernetes exec probe:
  erldist ping --timeout 2000          (NODE from $RELEASE_NODE, the cookie from $RELEASE_COOKIE)

Examples:
  erldist ping app@127.0.0.1
  erldist ping app@svc.project.svc.cluster.local:43691 --cookie "$COOKIE"
`,
  rpc: `Usage: erldist rpc [NODE] MODULE FUNCTION [ARG ...] [options]

Each ARG is one term. With --elixir, MODULE may be an Elixir alias (String, MyApp.Repo) or :erlang.

Examples:
  erldist rpc app@host erlang system_info otp_release
  erldist rpc app@host lists seq 1 5
  erldist rpc app@host erlang list_to_tuple '[a, 1, <<"x">>]'
  erldist rpc app@host String upcase '"hello"' --elixir
  erldist rpc app@host maps get 'k' '#{k => 1}' --json
`,
  eval: `Usage: erldist eval [NODE] EXPR [options]

Evaluates EXPR on the node with erl_eval (Code.eval_string with --elixir) and prints its value.

Examples:
  erldist eval app@host 'lists:sum([1, 2, 3])'
  erldist eval app@host 'Enum.map(1..3, &(&1 * 2))' --elixir
`,
  send: `Usage: erldist send [NODE] NAME TERM [options]

Sends TERM to the process registered as NAME on the node.

Examples:
  erldist send app@host jobs '{run, 42}'
  erldist send app@host MyApp.Worker '{:run, 42}' --elixir
`,
  names: `Usage: erldist names [HOST] [options]

Lists what EPMD on HOST (default 127.0.0.1; port $ERL_EPMD_PORT or 4369) knows.

Examples:
  erldist names
  erldist names app.project.svc.cluster.local --json
`,
  epmd: `Usage: erldist epmd [--port N]

Runs an EPMD server (default port $ERL_EPMD_PORT or 4369) until interrupted, for pods without an
epmd binary. Real erl nodes register with it and resolve each other through it.
`,
};
