export type {
  ChannelAdapter,
  ChannelContent,
  OutboundMessage,
  ProviderAcceptance,
} from './channel-adapter';
export {
  CHANNEL_ERROR_KINDS,
  ChannelError,
  type ChannelErrorDetails,
  type ChannelErrorKind,
} from './channel-error';
export { ERROR_KIND_TRAITS, traitsOf, type ErrorKindTraits } from './error-kinds';
export {
  LOG_PROVIDER_ID,
  LogChannelAdapter,
  type LogAdapterOptions,
  type LoggedSend,
} from './adapters/log.adapter';
export { cidrProblem } from './address-guard';
export { describeSms, type SmsEncoding, type SmsEnvelope } from './content/sms-encoding';
export {
  ChannelRouter,
  ChannelUnavailableError,
  type AttemptObserver,
  type ChannelRouterOptions,
  type ProviderAttempt,
  type RoutedAcceptance,
} from './channel-router';
export {
  LOCAL_RATE_LIMIT,
  describeSendRate,
  heldUpPastGuard,
  sendRateTableProblems,
  type GrantedPermit,
  type SendPermit,
  type SendPermits,
  type SendRate,
  type SendRateTable,
} from './send-permits';
export {
  ProtectedAdapter,
  type BreakerSettings,
  type BreakerState,
  type BreakerStateChange,
} from './provider-breaker';
export {
  SendGridEmailAdapter,
  type SendGridEmailAdapterOptions,
} from './adapters/sendgrid-email.adapter';
export { TwilioSmsAdapter, type TwilioSmsAdapterOptions } from './adapters/twilio-sms.adapter';
export {
  TwilioWhatsAppAdapter,
  type TwilioWhatsAppAdapterOptions,
} from './adapters/twilio-whatsapp.adapter';
export { FcmPushAdapter, type FcmPushAdapterOptions } from './adapters/fcm-push.adapter';
export { WebPushAdapter, type WebPushAdapterOptions } from './adapters/web-push.adapter';
export {
  MAX_PUSH_ACK_TOKEN_LENGTH,
  PushAckTokens,
  pushAckUrl,
  type PushAckChannel,
  type PushAckClaims,
  type PushAckIssuer,
  type PushAckVerification,
} from './push-ack-token';
export { FCM_ACK_TOKEN_KEY, FCM_ACK_URL_KEY } from './adapters/fcm-push.adapter';
export { twilioStatusCallbackUrl } from './adapters/twilio-client';
export {
  parseTwilioInbound,
  parseTwilioStatusCallback,
  TWILIO_START_KEYWORDS,
  TWILIO_STATUS_OUTCOMES,
  TWILIO_STOP_KEYWORDS,
  type TwilioInboundConsent,
  type TwilioParams,
  type TwilioParseResult,
  type TwilioStatusReport,
} from './adapters/twilio-webhooks';
export {
  parseSendGridEvent,
  SENDGRID_EVENT_OUTCOMES,
  sendGridEventSchema,
  type SendGridEvent,
  type SendGridEventParse,
  type SendGridEventReport,
} from './adapters/sendgrid-webhooks';
