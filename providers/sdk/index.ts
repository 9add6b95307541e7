/**
 * The provider SDK: everything a provider plugin imports, and nothing deeper.
 * A plugin is a driver (the Driver interface) plus its manifest; the runtime
 * does the NATS work, announcements, heartbeats, event publishing and
 * reconciliation; the job book keeps the driver's jobs; the subschema helper
 * writes the merge boilerplate of the provider's own GraphQL fields; and the
 * process entry runs it all as a process. See docs/ARCHITECTURE.md, "How to
 * add a provider".
 */
export type { Driver, DriverContext, DriverJobChange, DriverLogLine, DriverSession, DriverSessionRequest } from './driver.js';
export { createProviderRuntime, type ProviderRuntime, type ProviderRuntimeOptions } from './runtime.js';
export {
  createJobBook,
  jobRecordBaseSchema,
  requireActive,
  requireNotEnded,
  requireState,
  STATUS,
  unknownJob,
  type BookEntry,
  type JobBook,
  type JobBookOptions,
  type JobRecordBase,
} from './job-book.js';
export { createDeadlineTimer, MAX_TIMER_MS, type DeadlineTimer } from './deadline-timer.js';
export { writeAtomically } from './job-records.js';
export { spawnPtySession, type PtySessionOptions } from './pty-session.js';
export { APP_CONNECT_TIMEOUT_MS, connectTcpSession, socketSession } from './tcp-session.js';
export { defineProviderSubschema, type DriverSubschema, type ProviderSubschemaDefinition, type SubschemaField } from './provider-subschema.js';
export { runProviderProcess, type ProviderProcessOptions, type ProviderProcessSettings } from './provider-process.js';
export { jsonListSetting, providerSettings, readProviderSettings } from './settings.js';
export { accountSpecSchema, createAccountMap, describeAccount, userMapSetting, type AccountMap, type UnixAccount } from './unix-accounts.js';

// The parts of the contract in shared/ that every driver speaks.
export type { Clock } from '../../shared/clock.js';
export {
  computeSupport,
  idSchema,
  type InteractiveSessionType,
  jobStateSchema,
  priceUnitSchema,
  productSchema,
  type ComputeSupport,
  type Manifest,
  type Product,
  type ProductPriceUnit,
  type Utilization,
} from '../../shared/domain.js';
export {
  InternalError,
  InvalidInputError,
  InvalidStateError,
  must,
  NoCapacityError,
  NotFoundError,
  ProviderUnavailableError,
  SwitchyardError,
  UnsupportedError,
} from '../../shared/errors.js';
export { isFinalState, type JobState } from '../../shared/job-state-machine.js';
export type { Logger } from '../../shared/logger.js';
export type { CreateJob, JobObservation } from '../../shared/protocol.js';
export { positiveIntSetting } from '../../shared/config.js';
