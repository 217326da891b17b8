export { PushAckController } from './push-ack.controller';
export { SendGridWebhooksController } from './sendgrid-webhooks.controller';
export { TwilioWebhooksController } from './twilio-webhooks.controller';
export { webhookBodyParser, WEBHOOK_BODY_LIMIT_BYTES } from './webhook-http';
