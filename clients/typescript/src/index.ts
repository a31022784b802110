// @dyngen/client: dyngen for games, in browsers and Node 20+.
export { DyngenClient } from "./client.js";
export type { AdvanceInput, ClientOptions, PlayOptions, PlayResult, Source, WaitOptions } from "./client.js";
export { DyngenError } from "./errors.js";
export type { FailureKind } from "./errors.js";
export { Bundle, BUNDLE_FORMAT, scopeMatches } from "./bundle.js";
export type { BundleFile, BundleItem, BundleLookup, BundleManifest, BundleSource } from "./bundle.js";
export type { EventOptions } from "./events.js";
export { retryAfterMs } from "./transport.js";
export type { CallOptions, Sleep } from "./transport.js";
export type * from "./wire.js";
