export * from './core';
export * from './twilio/fake-twilio';
export * from './sendgrid/fake-sendgrid';
export * from './push';
export * from './suite';
