import { describe, expect, expectTypeOf, it } from 'vitest';
import { createNode, type ErldistError, type LocalNode, type Peer, type Term } from '../../src/index.js';

// These lines are checked by `npm run typecheck` (tsc over test/): a misspelt event or a listener
// with the wrong arguments must not compile.
function typedEvents(node: LocalNode): void {
  // @ts-expect-error: no such event
  node.on('nodedwon', () => {});
  // @ts-expect-error: nodeup's listener gets a node name, not a number
  node.on('nodeup', (_name: number) => {});
  node.on('nodedown', (name, error) => {
    expectTypeOf(name).toEqualTypeOf<string>();
    expectTypeOf(error).toEqualTypeOf<ErldistError>();
  });
}

describe('published types', () => {
  it('events, peers and error reasons are typed', async () => {
    const node = createNode({ name: `types-${process.pid}@127.0.0.1`, cookie: 'types-cookie' });
    typedEvents(node);
    expectTypeOf<Peer['node']>().toEqualTypeOf<LocalNode>();
    expectTypeOf<ErldistError['reason']>().toEqualTypeOf<Term | undefined>();
    expect(node.listenerCount('nodedown')).toBe(1);
    await node.close();
  });
});
