/**
 * Two erldist nodes talking over loopback, no EPMD and no BEAM: `b` listens on a port, `a` dials
 * `b@127.0.0.1:port`. `ab` is a's connection to b, `ba` b's connection to a.
 */
import { createNode, type LocalNode, type NodeOptions, type Peer } from '../../src/index.js';
import { nextEvent } from './wait.js';

export interface NodePair {
  a: LocalNode;
  b: LocalNode;
  ab: Peer;
  ba: Peer;
  cookie: string;
  close(): Promise<void>;
}

let serial = 0;

/** A node name unique to this process and call: `<prefix><pid>n<serial>@127.0.0.1`. */
export function uniqueName(prefix: string): string {
  serial += 1;
  return `${prefix}${process.pid}n${serial}@127.0.0.1`;
}

export function randomTestCookie(): string {
  return `cookie-${Math.random().toString(36).slice(2)}`;
}

/** A node listening on a free port without EPMD, and the address to dial it (`name@127.0.0.1:port`). */
export async function listeningNode(
  options: NodeOptions & { cookie: string },
): Promise<{ node: LocalNode; address: string }> {
  const node = createNode({ name: uniqueName('l'), ...options });
  const { port } = await node.listen({ epmd: false });
  return { node, address: `${node.name}:${port}` };
}

export async function nodePair(options: { a?: NodeOptions; b?: NodeOptions } = {}): Promise<NodePair> {
  const cookie = randomTestCookie();
  const b = createNode({ name: uniqueName('b'), cookie, ...options.b });
  const a = createNode({ name: uniqueName('a'), cookie, ...options.a });
  try {
    const { port } = await b.listen({ epmd: false });
    const up = nextEvent(b, 'nodeup');
    const ab = await a.connect(`${b.name}:${port}`);
    await up;
    const ba = b.peer(a.name);
    if (!ba) throw new Error(`${b.name} has no connection to ${a.name}`);
    const close = async () => {
      await a.close();
      await b.close();
    };
    return { a, b, ab, ba, cookie, close };
  } catch (err) {
    await a.close();
    await b.close();
    throw err;
  }
}
