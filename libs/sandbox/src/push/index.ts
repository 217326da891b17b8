export * from './tls';
export * from './fake-fcm';
export * from './fake-web-push';
export * from './app-acks';
