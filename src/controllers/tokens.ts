export const KAFKA_CLIENT = Symbol('KAFKA_CLIENT');
export const FATAL_ERROR_HANDLER = Symbol('FATAL_ERROR_HANDLER');

/** Called when a part of the service fails in a way it cannot recover from in-process. */
export type FatalErrorHandler = (error: Error) => void;
