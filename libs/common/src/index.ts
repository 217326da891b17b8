export { Semaphore } from './semaphore';
