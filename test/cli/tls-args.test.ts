/** Where the command line finds TLS: its flags, else a release's erl flags in the environment. */
import { describe, expect, it } from 'vitest';
import { cliTls, parseArgs } from '../../src/cli/args.js';

describe('cliTls', () => {
  const opts = (...argv: string[]) => parseArgs(['ping', ...argv]).options;

  it('--tls and --ssl-dist-optfile', () => {
    expect(cliTls(opts('--tls'), {})).toStrictEqual({});
    expect(cliTls(opts('--ssl-dist-optfile', '/a.conf'), {})).toStrictEqual({ sslDistOptfile: '/a.conf' });
    expect(cliTls(opts(), {})).toBeUndefined();
  });

  it('-proto_dist inet_tls -ssl_dist_optfile F in ERL_AFLAGS, ERL_FLAGS or ELIXIR_ERL_OPTIONS', () => {
    const flags = '-proto_dist inet_tls -ssl_dist_optfile /app/ssl_dist.conf';
    for (const name of ['ERL_AFLAGS', 'ERL_FLAGS', 'ELIXIR_ERL_OPTIONS']) {
      expect(cliTls(opts(), { [name]: `+K true ${flags}` })).toStrictEqual({ sslDistOptfile: '/app/ssl_dist.conf' });
    }
    expect(cliTls(opts(), { ERL_FLAGS: '-proto_dist inet_tls' })).toStrictEqual({});
    expect(cliTls(opts(), { ERL_FLAGS: '-proto_dist inet_tcp -ssl_dist_optfile /x' })).toBeUndefined();
    expect(cliTls(opts('--ssl-dist-optfile', '/mine'), { ERL_AFLAGS: flags })).toStrictEqual({
      sslDistOptfile: '/mine',
    });
  });
});
