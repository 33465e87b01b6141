/**
 * EPMD wire format: golden bytes for every request and reply (written out by hand from
 * protocol-notes §1), replies split at every offset, and garbage.
 */
import { describe, expect, it } from 'vitest';
import {
  alive2Req,
  EpmdTag,
  NodeType,
  namesReq,
  type Parsed,
  parseAlive2Resp,
  parseNamesResp,
  parsePort2Resp,
  portPlease2Req,
  tryParseAlive2Resp,
  tryParsePort2Resp,
} from '../../src/epmd/protocol.js';
import { ErldistError } from '../../src/errors.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function expectCode(fn: () => unknown, code: string, message?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ErldistError);
  expect((caught as ErldistError).code).toBe(code);
  if (message) expect((caught as ErldistError).message).toMatch(message);
}

describe('EpmdTag', () => {
  it('has the numbers of the spec', () => {
    expect(EpmdTag).toEqual({
      ALIVE2_REQ: 120,
      ALIVE2_RESP: 121,
      ALIVE2_X_RESP: 118,
      PORT_PLEASE2_REQ: 122,
      PORT2_RESP: 119,
      NAMES_REQ: 110,
      DUMP_REQ: 100,
      KILL_REQ: 107,
      STOP_REQ: 115,
    });
    expect(NodeType).toEqual({ HIDDEN: 72, NORMAL: 77 });
  });
});

describe('requests', () => {
  it('ALIVE2_REQ', () => {
    const req = alive2Req({
      port: 0x1234,
      nodeType: NodeType.NORMAL,
      protocol: 0,
      highestVersion: 6,
      lowestVersion: 6,
      name: 'foo',
      extra: Buffer.alloc(0),
    });
    // Len=16: 120, port, 77, 0, 6, 6, Nlen=3 "foo", Elen=0
    expect(req.toString('hex')).toBe(hex('0010 78 1234 4d 00 0006 0006 0003 666f6f 0000').toString('hex'));
  });

  it('ALIVE2_REQ with hidden type, extra and a UTF-8 name', () => {
    const req = alive2Req({
      port: 65535,
      nodeType: NodeType.HIDDEN,
      protocol: 0,
      highestVersion: 6,
      lowestVersion: 5,
      name: 'nø',
      extra: Buffer.from([1, 2]),
    });
    expect(req.toString('hex')).toBe(hex('0012 78 ffff 48 00 0006 0005 0003 6ec3b8 0002 0102').toString('hex'));
  });

  it('ALIVE2_REQ with a long name grows its buffer', () => {
    const name = 'n'.repeat(255);
    const extra = Buffer.alloc(1000, 0xab);
    const req = alive2Req({ port: 1, nodeType: 77, protocol: 0, highestVersion: 6, lowestVersion: 6, name, extra });
    expect(req.length).toBe(2 + 13 + 255 + 1000);
    expect(req.readUInt16BE(0)).toBe(13 + 255 + 1000);
    expect(req.readUInt16BE(11)).toBe(255);
    expect(req.subarray(13, 13 + 255).toString()).toBe(name);
    expect(req.readUInt16BE(13 + 255)).toBe(1000);
    expect(req.subarray(req.length - 1000).equals(extra)).toBe(true);
  });

  it('PORT_PLEASE2_REQ', () => {
    expect(portPlease2Req('foo').toString('hex')).toBe('00047a666f6f');
  });

  it('NAMES_REQ', () => {
    expect(namesReq().toString('hex')).toBe('00016e');
  });

  it('rejects names and fields that do not fit', () => {
    expectCode(() => portPlease2Req(''), 'INVALID_ARGUMENT');
    expectCode(() => portPlease2Req('a'.repeat(256)), 'INVALID_ARGUMENT', /256 bytes/);
    expectCode(() => portPlease2Req('ø'.repeat(128)), 'INVALID_ARGUMENT', /256 bytes/);
    expectCode(() => portPlease2Req('a@b'), 'INVALID_ARGUMENT');
    expectCode(() => portPlease2Req('a\0b'), 'INVALID_ARGUMENT');
    const base = {
      port: 1,
      nodeType: 77,
      protocol: 0,
      highestVersion: 6,
      lowestVersion: 6,
      name: 'x',
      extra: Buffer.alloc(0),
    };
    expectCode(() => alive2Req({ ...base, port: 65536 }), 'INVALID_ARGUMENT');
    expectCode(() => alive2Req({ ...base, port: -1 }), 'INVALID_ARGUMENT');
    expectCode(() => alive2Req({ ...base, port: 1.5 }), 'INVALID_ARGUMENT');
    expectCode(() => alive2Req({ ...base, nodeType: 256 }), 'INVALID_ARGUMENT');
    expectCode(() => alive2Req({ ...base, extra: Buffer.alloc(65536) }), 'INVALID_ARGUMENT');
    // Fits Elen:16 but not the request's Len:16.
    expectCode(() => alive2Req({ ...base, extra: Buffer.alloc(65535) }), 'INVALID_ARGUMENT', /Len:16/);
  });
});

/** Every proper prefix is incomplete; the whole reply parses the same, with trailing bytes left. */
function checkSplits<T>(bytes: Buffer, tryParse: (b: Buffer) => Parsed<T> | undefined, expected: T): void {
  for (let i = 0; i < bytes.length; i++) {
    expect(tryParse(bytes.subarray(0, i)), `prefix of ${i} bytes`).toBeUndefined();
  }
  expect(tryParse(bytes)).toEqual({ reply: expected, length: bytes.length });
  const more = Buffer.concat([bytes, Buffer.from([1, 2, 3])]);
  expect(tryParse(more)).toEqual({ reply: expected, length: bytes.length });
}

describe('ALIVE2 replies', () => {
  const x = hex('76 00 6a7b8c9d');
  const old = hex('79 00 0102');

  it('ALIVE2_X_RESP', () => {
    const reply = { tag: EpmdTag.ALIVE2_X_RESP, result: 0, creation: 0x6a7b8c9d };
    expect(parseAlive2Resp(x)).toEqual(reply);
    checkSplits(x, tryParseAlive2Resp, reply);
  });

  it('ALIVE2_RESP (old, 16-bit creation)', () => {
    const reply = { tag: EpmdTag.ALIVE2_RESP, result: 0, creation: 0x0102 };
    expect(parseAlive2Resp(old)).toEqual(reply);
    checkSplits(old, tryParseAlive2Resp, reply);
  });

  it('a refusal', () => {
    expect(parseAlive2Resp(hex('76 01 00000000'))).toEqual({ tag: 118, result: 1, creation: 0 });
  });

  it('garbage', () => {
    expectCode(() => tryParseAlive2Resp(hex('77')), 'PROTOCOL', /tag 119/);
    expectCode(() => tryParseAlive2Resp(hex('00 00 00')), 'PROTOCOL');
    expectCode(() => parseAlive2Resp(Buffer.alloc(0)), 'PROTOCOL', /truncated after 0 bytes/);
    expectCode(() => parseAlive2Resp(hex('76 00 6a7b8c')), 'PROTOCOL', /truncated/);
    expectCode(() => parseAlive2Resp(hex('76 00 6a7b8c9d 00')), 'PROTOCOL', /1 unexpected byte/);
  });
});

describe('PORT2_RESP', () => {
  // found: port 0x9d6c (40300), type 77, proto 0, 6/6, "foo", extra 0xbeef
  const found = hex('77 00 9d6c 4d 00 0006 0006 0003 666f6f 0002 beef');

  it('a node EPMD knows', () => {
    const reply = {
      found: true as const,
      result: 0 as const,
      port: 40300,
      nodeType: 77,
      protocol: 0,
      highestVersion: 6,
      lowestVersion: 6,
      name: 'foo',
      extra: Buffer.from([0xbe, 0xef]),
    };
    expect(parsePort2Resp(found)).toEqual(reply);
    checkSplits(found, tryParsePort2Resp, reply);
  });

  it('no extra, hidden, UTF-8 name', () => {
    const bytes = hex('77 00 0001 48 00 0006 0005 0003 6ec3b8 0000');
    const reply = parsePort2Resp(bytes);
    expect(reply).toMatchObject({ found: true, port: 1, nodeType: 72, lowestVersion: 5, name: 'nø' });
    expect(reply.found && reply.extra.length).toBe(0);
  });

  it('extra is a copy, not a view of the input', () => {
    const bytes = Buffer.from(found);
    const reply = parsePort2Resp(bytes);
    bytes.fill(0);
    expect(reply.found && reply.extra.toString('hex')).toBe('beef');
  });

  it('an unknown name', () => {
    const bytes = hex('77 01');
    expect(parsePort2Resp(bytes)).toEqual({ found: false, result: 1 });
    checkSplits(bytes, tryParsePort2Resp, { found: false as const, result: 1 });
  });

  it('garbage', () => {
    expectCode(() => tryParsePort2Resp(hex('76 00 00000000')), 'PROTOCOL', /PORT2_RESP.*tag 118/);
    expectCode(() => tryParsePort2Resp(Buffer.from('HTTP/1.1 400')), 'PROTOCOL');
    expectCode(() => parsePort2Resp(Buffer.alloc(0)), 'PROTOCOL', /truncated/);
    expectCode(() => parsePort2Resp(found.subarray(0, found.length - 1)), 'PROTOCOL', /truncated/);
    expectCode(() => parsePort2Resp(Buffer.concat([found, hex('00')])), 'PROTOCOL', /unexpected/);
    // Lengths that point past the end stay incomplete; they never read out of bounds.
    expect(tryParsePort2Resp(hex('77 00 0001 4d 00 0006 0006 ffff 61'))).toBeUndefined();
    expect(tryParsePort2Resp(hex('77 00 0001 4d 00 0006 0006 0001 61 ffff'))).toBeUndefined();
  });

  it('every random byte string is incomplete, a reply, or PROTOCOL', () => {
    let seed = 12345;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let i = 0; i < 5000; i++) {
      const len = rand() % 24;
      const b = Buffer.alloc(len);
      for (let j = 0; j < len; j++) b[j] = rand() & 0xff;
      if (len > 0 && rand() % 2 === 0) b[0] = 119;
      for (const parse of [tryParsePort2Resp, tryParseAlive2Resp]) {
        try {
          const r = parse(b);
          if (r !== undefined) expect(r.length).toBeLessThanOrEqual(len);
        } catch (err) {
          expect(err).toBeInstanceOf(ErldistError);
          expect((err as ErldistError).code).toBe('PROTOCOL');
        }
      }
    }
  });
});

describe('NAMES reply', () => {
  it('lists nodes', () => {
    const bytes = Buffer.concat([hex('00001111'), Buffer.from('name foo at port 40300\nname b-ar_1 at port 1\n')]);
    expect(parseNamesResp(bytes)).toEqual({
      epmdPort: 4369,
      nodes: [
        { name: 'foo', port: 40300 },
        { name: 'b-ar_1', port: 1 },
      ],
    });
  });

  it('no nodes', () => {
    expect(parseNamesResp(hex('00001111'))).toEqual({ epmdPort: 4369, nodes: [] });
  });

  it('UTF-8 names', () => {
    const bytes = Buffer.concat([hex('00001111'), Buffer.from('name nø at port 5\n')]);
    expect(parseNamesResp(bytes).nodes).toEqual([{ name: 'nø', port: 5 }]);
  });

  it('garbage', () => {
    expectCode(() => parseNamesResp(Buffer.alloc(0)), 'PROTOCOL', /truncated/);
    expectCode(() => parseNamesResp(hex('000011')), 'PROTOCOL', /truncated/);
    expectCode(() => parseNamesResp(hex('00011111')), 'PROTOCOL', /out of range/);
    const bad = (text: string): Buffer => Buffer.concat([hex('00001111'), Buffer.from(text)]);
    expectCode(() => parseNamesResp(bad('name foo at port 1')), 'PROTOCOL', /newline/);
    expectCode(() => parseNamesResp(bad('hello\n')), 'PROTOCOL', /unexpected line "hello"/);
    expectCode(() => parseNamesResp(bad('name foo at port 70000\n')), 'PROTOCOL');
    expectCode(() => parseNamesResp(bad('name foo at port -1\n')), 'PROTOCOL');
    expectCode(() => parseNamesResp(bad('name  at port 1\n\n')), 'PROTOCOL');
  });
});
