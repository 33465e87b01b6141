import { describe, expect, it } from 'vitest';
import { parseNodeName, resolveCookie } from '../../src/node/names.js';

describe('parseNodeName', () => {
  it('short, long, FQDN, IP, with and without port', () => {
    expect(parseNodeName('app@host')).toMatchObject({
      node: 'app@host',
      alive: 'app',
      host: 'host',
      long: false,
      port: undefined,
    });
    expect(parseNodeName('app@svc.project.svc.cluster.local:43691')).toMatchObject({
      node: 'app@svc.project.svc.cluster.local',
      host: 'svc.project.svc.cluster.local',
      long: true,
      port: 43691,
    });
    expect(parseNodeName('x@127.0.0.1')).toMatchObject({ long: true, port: undefined });
    expect(parseNodeName('x@[::1]:4000')).toMatchObject({ host: '::1', port: 4000, long: true });
  });
  it('IPv6 literal hosts, as app@$(POD_IP) gives them in an IPv6 cluster', () => {
    expect(parseNodeName('app@::1')).toMatchObject({ node: 'app@::1', host: '::1', port: undefined, long: true });
    expect(parseNodeName('app@fd00::12')).toMatchObject({ node: 'app@fd00::12', host: 'fd00::12', port: undefined });
    // Unbracketed, a last group that can be part of the address is (use brackets for a port).
    expect(parseNodeName('app@fd00::12:4369')).toMatchObject({ host: 'fd00::12:4369', port: undefined });
    expect(parseNodeName('app@[fd00::12]:43691')).toMatchObject({ node: 'app@fd00::12', port: 43691 });
    expect(() => parseNodeName('app@fd00::zz')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
  it('rejects what is not a node name', () => {
    for (const bad of [
      '',
      'nohost',
      '@host',
      'a@',
      'a b@host',
      'a@host:0',
      'a@host:99999',
      'a@host:x',
      'a@ho st',
      'a@[::1',
      'a@-bad',
    ]) {
      expect(() => parseNodeName(bad), bad).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });
});

describe('resolveCookie', () => {
  it('option, then ERLANG_COOKIE, then RELEASE_COOKIE, then ~/.erlang.cookie', () => {
    expect(resolveCookie('opt', { ERLANG_COOKIE: 'e', RELEASE_COOKIE: 'r' })).toBe('opt');
    expect(resolveCookie(undefined, { ERLANG_COOKIE: 'e', RELEASE_COOKIE: 'r' })).toBe('e');
    expect(resolveCookie(undefined, { RELEASE_COOKIE: 'r', HOME: '/nonexistent' })).toBe('r');
    expect(() => resolveCookie(undefined, { HOME: '/nonexistent' })).toThrow(/no cookie/);
    expect(() => resolveCookie('', {})).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
