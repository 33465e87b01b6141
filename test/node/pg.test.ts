/**
 * `pg` scopes between two erldist nodes: each handle discovers the other's scope and sees its members.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { atom, type Pid } from '../../src/index.js';
import { type NodePair, nodePair } from '../support/pair.js';
import { eventually } from '../support/wait.js';

const ids = (pids: Pid[]) => pids.map((p) => `${p}`).sort();

describe('pg between erldist nodes', () => {
  let pair: NodePair | undefined;
  afterEach(async () => {
    await pair?.close();
    pair = undefined;
  });

  it('members join and leave across nodes, and go with a closed mailbox or node', async () => {
    pair = await nodePair();
    const { a, b } = pair;
    expect(a.nodes()).toEqual([b.name]);
    // Both handles are made after the nodes connected: each discovers the connected node itself.
    const sa = a.pg('s');
    const sb = b.pg('s');
    expect(a.pg('s')).toBe(sa);
    expect(() => sa.join('g', b.spawn())).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => a.pg('s2')).not.toThrow();
    a.register('taken', a.spawn());
    expect(() => a.pg('taken')).toThrow();
    const boxA = a.spawn();
    const boxB = b.spawn();
    const joins: unknown[] = [];
    sb.on('join', (group, pids) => joins.push([group, ids(pids)]));
    sa.join('g', boxA);
    sb.join('g', boxB);
    await eventually(() => sa.members('g').length === 2 && sb.members('g').length === 2, { what: 'both members' });
    expect(ids(sa.members('g'))).toEqual(ids([boxA.pid, boxB.pid]));
    expect(ids(sb.localMembers('g'))).toEqual(ids([boxB.pid]));
    expect(sb.groups()).toEqual([atom('g')]);
    expect(joins).toContainEqual([atom('g'), ids([boxA.pid])]);

    expect(sa.leave('g', boxA)).toBe(true);
    expect(sa.leave('g', boxA)).toBe(false);
    await eventually(() => sb.members('g').length === 1, { what: 'leave seen on b' });
    sa.join('g', boxA);
    await eventually(() => sb.members('g').length === 2, { what: 'join again seen on b' });
    boxA.close();
    await eventually(() => sb.members('g').length === 1 && sa.members('g').length === 1, { what: 'closed box gone' });

    const boxA2 = a.spawn();
    sa.join('h', boxA2);
    await eventually(() => sb.members('h').length === 1, { what: 'h on b' });
    await a.close();
    await eventually(() => sb.members('h').length === 0, { what: 'members gone with their node' });
  });
});
