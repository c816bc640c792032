// @ts-check
// The wire contract's numbers and patterns, bundled from the one file the server reads too
// (codestream/contract.json; docs/protocol.md explains each value). Import from here, never
// restate a limit in the client.
import contract from "../../../codestream/contract.json" with { type: "json" };

export const CONTRACT = Object.freeze(contract);

/** A contract pattern, anchored (the server matches whole strings too). */
export const wholeMatch = (/** @type {string} */ pattern) => new RegExp(`^(?:${pattern})$`);

export const STREAM_ID_RE = wholeMatch(contract.patterns.streamId);
export const EPOCH_RE = wholeMatch(contract.patterns.epoch);
export const LANG_RE = wholeMatch(contract.patterns.lang);
export const STREAMER_PREFIX = contract.prefixes.streamerUser;

export const LIMITS = Object.freeze({ ...contract.limits });
export const STREAMER = Object.freeze({ ...contract.streamer });
export const WATCHER = Object.freeze({ ...contract.watcher });
export const EVENTS = Object.freeze({ ...contract.events });
export const STORAGE = Object.freeze({ ...contract.storage });
/** Why the service closed a streamer connection that a newer one replaced (another tab or device). */
export const STREAMER_REPLACED_REASON = contract.closeReasons.streamerReplaced;
