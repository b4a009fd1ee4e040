import { Type, type Static, type TObject, type TProperties, type TSchema } from '@sinclair/typebox'
import { FreeObject, Parameters, SdkMessageTypes, type SdkMessageType } from '../events/collect.js'
import { EventId, EventName, NAME_PATTERN, UserId } from './fields.js'
import { FieldError } from './problem.js'

// HTTP bodies of the Segment HTTP tracking API, which RudderStack's SDKs speak too: POST
// /v1/track, /v1/identify, /v1/page, /v1/screen, /v1/group, /v1/alias take one message;
// /v1/batch (and /v1/import) a list of them, each with its `type`. Fields the mapping does not
// read (channel, version, _metadata, category, …) are allowed and left out of the event.
// The fields that enter the collector's event keep its limits (src/schema/api/fields.ts).

/** Time as the SDKs send it, ISO 8601; parsed by the mapping (src/domain/tracking.ts). */
const SdkTime = Type.String({ minLength: 1, maxLength: 64, description: 'ISO 8601 date-time' })
/** groupId, previousId: a string or a number, as the SDKs take them */
const OtherId = Type.Union([Type.String({ minLength: 1, maxLength: 200, pattern: NAME_PATTERN }), Type.Number()])
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

const common = {
  userId: Type.Optional(Nullable(UserId)),
  anonymousId: Type.Optional(Nullable(UserId)),
  messageId: Type.Optional(EventId),
  context: Type.Optional(Nullable(FreeObject)),
  integrations: Type.Optional(Nullable(FreeObject)),
  timestamp: Type.Optional(SdkTime),
  originalTimestamp: Type.Optional(SdkTime),
  sentAt: Type.Optional(SdkTime),
  writeKey: Type.Optional(Type.String({ maxLength: 256, description: 'the write key, when not sent as the HTTP Basic user' }))
}

function message<T extends SdkMessageType, P extends TProperties> (type: T, props: P, description: string) {
  const typeField = Type.Optional(Type.Literal(type, { description: 'required in a batch; a single-message route knows it from its path' }))
  return Type.Object({ type: typeField, ...common, ...props }, { additionalProperties: true, description })
}

export const TrackMessage = message('track', { event: EventName, properties: Type.Optional(Parameters) }, 'track: `event` becomes the event name, `properties` its parameters')
export const IdentifyMessage = message('identify', { traits: Type.Optional(Parameters) }, 'identify: the event `identify`, `traits` its parameters')
export const PageMessage = message('page', { name: Type.Optional(Type.String({ maxLength: 200, pattern: NAME_PATTERN })), properties: Type.Optional(Parameters) },
  'page: the event `page:<name>` (`page` without a name), `properties` its parameters')
export const ScreenMessage = message('screen', { name: Type.Optional(Type.String({ maxLength: 200, pattern: NAME_PATTERN })), properties: Type.Optional(Parameters) },
  'screen: the event `screen:<name>` (`screen` without a name), `properties` its parameters')
export const GroupMessage = message('group', { groupId: OtherId, traits: Type.Optional(Parameters) }, 'group: the event `group`, `traits` and its `groupId` the parameters')
export const AliasMessage = message('alias', { previousId: OtherId }, 'alias: the event `alias`, parameters `{previousId}`')

export const MessageSchemas = {
  track: TrackMessage,
  identify: IdentifyMessage,
  page: PageMessage,
  screen: ScreenMessage,
  group: GroupMessage,
  alias: AliasMessage
} as const satisfies Record<SdkMessageType, TObject>

/** Any one message, as validated: the fields the mapping reads. */
export type SdkMessage = Static<typeof TrackMessage> | Static<typeof IdentifyMessage> | Static<typeof PageMessage> |
Static<typeof ScreenMessage> | Static<typeof GroupMessage> | Static<typeof AliasMessage>

/** Messages a batch may hold (Segment's limit). */
export const MAX_BATCH_MESSAGES = 2500

export const BatchBody = Type.Object({
  batch: Type.Array(Type.Unknown(), { maxItems: MAX_BATCH_MESSAGES, description: 'messages, each with its `type`; each is checked alone' }),
  context: Type.Optional(Nullable(FreeObject)),
  integrations: Type.Optional(Nullable(FreeObject)),
  sentAt: Type.Optional(SdkTime),
  writeKey: Type.Optional(Type.String({ maxLength: 256 }))
}, { additionalProperties: true })
export type BatchBody = Static<typeof BatchBody>

/** The batch as the document shows it: its items typed (the route checks each alone). */
export const BatchBodyDoc = Type.Object({
  ...BatchBody.properties,
  batch: Type.Array(Type.Union(SdkMessageTypes.map(t => MessageSchemas[t])), {
    maxItems: MAX_BATCH_MESSAGES,
    description: 'messages, each with its `type`; `context` and `integrations` of the batch are merged into each'
  })
}, { additionalProperties: true })

/**
 * `{"success": true}`, Segment's answer, when every message was stored (or was stored before);
 * a batch that stored some and refused others says which, as /api/collect/batch does.
 */
export const TrackingResponse = Type.Object({
  success: Type.Boolean({ description: 'true when no message was refused' }),
  accepted: Type.Optional(Type.Integer({ description: 'a batch with refused messages: how many were stored' })),
  duplicates: Type.Optional(Type.Integer({ description: '… how many had been stored before (the same user and messageId)' })),
  rejected: Type.Optional(Type.Integer({ description: '… how many were refused' })),
  errors: Type.Optional(Type.Array(FieldError, { description: '… why: each names its message, `batch.<index>`' }))
})
export type TrackingResponse = Static<typeof TrackingResponse>
