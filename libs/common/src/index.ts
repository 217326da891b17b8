export { LanePrecedence, bulkCheckpoint } from './lane-precedence';
export { Semaphore } from './semaphore';
