/**
 * Named `node:diagnostics_channel` channels, as undici publishes them: subscribe to log or trace a
 * node's connections and calls with no dependency (README, "Observability"). Each message is a
 * plain object; nothing is published while a channel has no subscriber.
 */
import { channel } from 'node:diagnostics_channel';
import type { ErldistError } from '../errors.js';

/** A dial starts (`attempt` counts from 1; above 1, or `reconnect`, it is a reconnection). */
export interface ConnectStartMessage {
  node: string;
  peer: string;
  attempt: number;
  reconnect: boolean;
}

/** A dial ended: `error` when it failed. */
export interface ConnectEndMessage extends ConnectStartMessage {
  durationMs: number;
  error?: ErldistError;
}

/** A reconnection is scheduled after `delayMs`. */
export interface ReconnectMessage {
  node: string;
  peer: string;
  failures: number;
  delayMs: number;
}

/** A connection came up or went down (`error` says why it went down). */
export interface NodeUpDownMessage {
  node: string;
  peer: string;
  error?: ErldistError;
}

/** A handshake with a node that connected to us failed. */
export interface HandshakeErrorMessage {
  node: string;
  peer: string;
  error: ErldistError;
}

/** A call (`call`, `rpc`, `spawn`, `ping`) started, or finished with `outcome` (`ok` or an error code). */
export interface CallMessage {
  node: string;
  peer: string;
  what: string;
  durationMs?: number;
  outcome?: string;
}

export const channels = {
  connectStart: channel('erldist:connect:start'),
  connectEnd: channel('erldist:connect:end'),
  reconnect: channel('erldist:reconnect'),
  nodeUp: channel('erldist:nodeup'),
  nodeDown: channel('erldist:nodedown'),
  handshakeError: channel('erldist:handshake:error'),
  callStart: channel('erldist:call:start'),
  callEnd: channel('erldist:call:end'),
} as const;
