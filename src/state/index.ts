/**
 * zerokit/state — shared state (what ZProc gives Python): a state server reachable by address,
 * a dict-like State with atomic operations, transactions and named mutations, watchers that never
 * miss a change, worker processes that share the state, and optional persistence.
 */

export { InvalidArgumentError, TimeoutError } from "../core/errors.js";
export {
  type Change,
  ping,
  State,
  type StateOptions,
  type Transaction,
  type WaitOptions,
  type WatchOptions,
} from "./client.js";
export {
  Context,
  type ContextOptions,
  type MapOptions,
  type PoolOptions,
  type RetryOptions,
  type ServerHandle,
  type SpawnOptions,
  type StartServerOptions,
  startServer,
  type WorkerHandle,
} from "./context.js";
export {
  DataDirError,
  HistoryTruncatedError,
  StateLimitError,
  TransactionConflictError,
  WorkerExitError,
} from "./errors.js";
export type { FsyncPolicy, RecoveryReport } from "./persistence.js";
export { type MapResult, type PoolMapOptions, type PoolReadyOptions, WorkerPool } from "./pool.js";
export type { AuthenticatorPolicy, StartServerSecurity } from "./security.js";
export { type MutationState, StateServer, type StateServerOptions } from "./server.js";
export type { StoreStats } from "./store.js";
