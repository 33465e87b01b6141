// The Node.js service of node-service.yaml: an HTTP API in front of the Elixir app's App.Prices
// GenServer, through one long-lived erldist peer. When the Elixir pod restarts (new IP, same Service
// name), the peer reconnects by itself: no reconnection code here.
//
//   TARGET_NODE    app@app.default.svc.cluster.local:43691 (the node name, and the pinned port)
//   ERLDIST_NAME   this service's own node name, pricing-api@<pod IP>: one stable name per pod, as
//                  the Elixir node keeps every node name it hears as an atom, for good
//   ERLANG_COOKIE  read by erldist itself
//   PORT           HTTP port (default 8080)
//
// GET /quote/ACME -> {"symbol":"ACME","price":101.5}; GET /ready (readiness: the node answers);
// GET /healthz (liveness: this process answers; a down Elixir node is not a reason to restart it).
//
// Run locally: TARGET_NODE=app@127.0.0.1 ERLANG_COOKIE=... node examples/kubernetes/pricing-api.ts
import { createServer, type ServerResponse } from 'node:http';
import { atom, connect, ErldistError, type Term, Tuple, tuple } from 'erldist';

const target = process.env.TARGET_NODE;
if (!target) {
  console.error('pricing-api: set TARGET_NODE (name@host or name@host:port)');
  process.exit(2);
}
const PRICES = atom('Elixir.App.Prices');

// If the node is not up yet, exit: Kubernetes restarts the container with a backoff, and the
// readiness probe keeps traffic away meanwhile. Once connected, the peer outlives node restarts.
const peer = await connect(target, { name: process.env.ERLDIST_NAME, timeout: 10_000 }).catch((err: unknown) => {
  console.error(`pricing-api: cannot connect to ${target}: ${(err as Error).message}`);
  process.exit(1);
});
peer.node.on('nodedown', (node, error) => console.warn(`pricing-api: ${node} down (${error.message}), reconnecting`));
peer.node.on('nodeup', (node) => console.info(`pricing-api: connected to ${node}`));

/** App.Prices's answer to {quote, Symbol}: {ok, Price} or an error atom. */
async function quote(symbol: string): Promise<Term> {
  const request = tuple(atom('quote'), symbol);
  try {
    return await peer.call(PRICES, request, { timeout: 2000 });
  } catch (err) {
    // The call was in flight when the connection dropped: nobody knows whether it ran. A quote only
    // reads, so ask once more; that call waits for the reconnection within its own timeout. (A call
    // that changes state should not be repeated blindly: report the failure instead.)
    if (err instanceof ErldistError && err.code === 'NODE_DOWN') return peer.call(PRICES, request, { timeout: 2000 });
    throw err;
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const server = createServer(async (req, res) => {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (path === '/healthz') return reply(res, 200, { ok: true });
  if (path === '/ready') {
    const up = await peer.ping({ timeout: 1000 });
    return reply(res, up ? 200 : 503, { node: peer.name, up });
  }
  const symbol = /^\/quote\/([A-Za-z0-9.]+)$/.exec(path)?.[1];
  if (symbol === undefined) return reply(res, 404, { error: 'not found' });
  try {
    const answer = await quote(symbol);
    if (answer instanceof Tuple && answer.elements[0] === atom('ok'))
      return reply(res, 200, { symbol, price: answer.elements[1] });
    return reply(res, 404, { symbol, error: 'unknown symbol' });
  } catch (err) {
    // NODE_DOWN, TIMEOUT: the node is away (restarting); the client may retry.
    const code = err instanceof ErldistError ? err.code : 'ERROR';
    res.setHeader('retry-after', '1');
    return reply(res, 503, { symbol, error: code });
  }
});
server.listen(Number(process.env.PORT ?? 8080), () => {
  console.info(`pricing-api: listening on port ${(server.address() as { port: number }).port}, calling ${peer.name}`);
});

// Kubernetes sends SIGTERM before it stops the pod: finish the requests, then close the peer.
process.once('SIGTERM', () => {
  server.close(() => void peer.close());
});
