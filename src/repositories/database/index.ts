export {
  createDatabase,
  DEFAULT_MAX_CONNECTIONS,
  KYSELY,
  type DatabaseHandle,
  type DatabaseKind,
  type DatabaseLogger,
  type DatabaseOptions,
} from './database';
export {
  executedMigrations,
  migrateDownAll,
  migrateToLatest,
  MigrationFailedError,
} from './migrate';
export { MIGRATIONS } from './migrations';
export type { Database, ProfileDocument } from './types';
