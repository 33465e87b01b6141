/**
 * Distribution capability flags (protocol-notes §2; lib/kernel/include/dist.hrl). Bigint, because
 * some sit at bit 32 and above.
 */
export const DFLAG = {
  PUBLISHED: 0x1n,
  ATOM_CACHE: 0x2n,
  EXTENDED_REFERENCES: 0x4n,
  DIST_MONITOR: 0x8n,
  FUN_TAGS: 0x10n,
  DIST_MONITOR_NAME: 0x20n,
  HIDDEN_ATOM_CACHE: 0x40n,
  NEW_FUN_TAGS: 0x80n,
  EXTENDED_PIDS_PORTS: 0x100n,
  EXPORT_PTR_TAG: 0x200n,
  BIT_BINARIES: 0x400n,
  NEW_FLOATS: 0x800n,
  UNICODE_IO: 0x1000n,
  DIST_HDR_ATOM_CACHE: 0x2000n,
  SMALL_ATOM_TAGS: 0x4000n,
  UTF8_ATOMS: 0x10000n,
  MAP_TAG: 0x20000n,
  BIG_CREATION: 0x40000n,
  SEND_SENDER: 0x80000n,
  BIG_SEQTRACE_LABELS: 0x100000n,
  EXIT_PAYLOAD: 0x400000n,
  FRAGMENTS: 0x800000n,
  HANDSHAKE_23: 0x1000000n,
  UNLINK_ID: 0x2000000n,
  /** Bit 26 in the code (the protocol guide says 36). */
  MANDATORY_25_DIGEST: 0x4000000n,
  SPAWN: 1n << 32n,
  NAME_ME: 1n << 33n,
  V4_NC: 1n << 34n,
  ALIAS: 1n << 35n,
  LOCAL_EXT: 1n << 36n,
  ALTACT_SIG: 1n << 37n,
} as const;

/** What an OTP 25 acceptor requires. */
export const DFLAG_MANDATORY_25 = 0x1070f94n;
/** What OTP 26 and later require: the OTP 25 set plus V4_NC and UNLINK_ID. */
export const DFLAG_MANDATORY_26 = DFLAG_MANDATORY_25 | DFLAG.V4_NC | DFLAG.UNLINK_ID;

/**
 * What erldist advertises (design.md, "Distribution flags"): the mandatory set, the 25 digest flag,
 * and only the optional features that are implemented and tested against real nodes.
 * PUBLISHED is added by a node that is not hidden.
 */
export const DFLAG_ERLDIST =
  DFLAG_MANDATORY_26 |
  DFLAG.MANDATORY_25_DIGEST |
  DFLAG.DIST_MONITOR |
  DFLAG.DIST_MONITOR_NAME |
  DFLAG.EXIT_PAYLOAD |
  DFLAG.SPAWN |
  DFLAG.ALIAS |
  DFLAG.DIST_HDR_ATOM_CACHE |
  DFLAG.FRAGMENTS;

/** Names of the set bits, for error messages. */
export function flagNames(flags: bigint): string[] {
  const out: string[] = [];
  for (const [name, bit] of Object.entries(DFLAG)) if (flags & bit) out.push(name);
  return out;
}
