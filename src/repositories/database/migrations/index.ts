import type { Migration } from 'kysely';
import * as customerProfiles from './0001_customer_profiles';
import * as scheduledJobs from './0002_scheduled_jobs';
import * as messageLog from './0003_message_log';
import * as adminAudit from './0004_admin_audit';
import * as messageOverrides from './0005_message_overrides';
import * as traceContext from './0006_trace_context';
import * as deliveryLifecycle from './0007_delivery_lifecycle';
import * as cancellation from './0008_cancellation';
import * as schedulerLeaseHolders from './0009_scheduler_lease_holders';
import * as receiptQueue from './0010_receipt_queue';
import * as lookupIndexes from './0011_lookup_indexes';
import * as rememberedCancelsFunction from './0012_remembered_cancels_function';
import * as lz4MessageCompression from './0013_lz4_message_compression';

/**
 * Every migration, by name. Listed statically instead of read from the directory so the compiled
 * build, ts-jest and bundlers all see the same set; names sort in the order they must run.
 */
export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001_customer_profiles': customerProfiles,
  '0002_scheduled_jobs': scheduledJobs,
  '0003_message_log': messageLog,
  '0004_admin_audit': adminAudit,
  '0005_message_overrides': messageOverrides,
  '0006_trace_context': traceContext,
  '0007_delivery_lifecycle': deliveryLifecycle,
  '0008_cancellation': cancellation,
  '0009_scheduler_lease_holders': schedulerLeaseHolders,
  '0010_receipt_queue': receiptQueue,
  '0011_lookup_indexes': lookupIndexes,
  '0012_remembered_cancels_function': rememberedCancelsFunction,
  '0013_lz4_message_compression': lz4MessageCompression,
};
