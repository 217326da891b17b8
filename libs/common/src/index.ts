export { LanePrecedence } from './lane-precedence';
export { Semaphore } from './semaphore';
