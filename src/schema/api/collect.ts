import { Type, type Static } from '@sinclair/typebox'
import { MicroTime, Parameters } from '../events/collect.js'
import { EventId, EventName, UserId } from './fields.js'
import { FieldError } from './problem.js'
import { SeqToken } from './common.js'

// HTTP bodies of the event collector (seed 002).

export const CollectRequest = Type.Object({
  event_id: EventId,
  event: EventName,
  user_id: UserId,
  parameters: Type.Optional(Parameters),
  event_datetime: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: 'ISO 8601 time of the event; default: when Jetway received it' }))
})
export type CollectRequest = Static<typeof CollectRequest>

export const CollectResponse = Type.Object({ is_success: Type.Boolean() })

export const BatchRequest = Type.Object({
  events: Type.Array(Type.Unknown(), { minItems: 1, maxItems: 1000 })
})

export const BatchItemStatus = Type.Union([Type.Literal('accepted'), Type.Literal('duplicate'), Type.Literal('rejected')])
export type BatchItemStatus = Static<typeof BatchItemStatus>

export const BatchItemResult = Type.Object({
  index: Type.Integer(),
  event_id: Type.Optional(Type.String()),
  status: BatchItemStatus,
  seq: Type.Optional(Type.Integer()),
  errors: Type.Optional(Type.Array(FieldError))
})
export type BatchItemResult = Static<typeof BatchItemResult>

export const BatchResponse = Type.Object({
  is_success: Type.Boolean({ description: 'true when no event was rejected' }),
  accepted: Type.Integer(),
  duplicates: Type.Integer(),
  rejected: Type.Integer(),
  results: Type.Array(BatchItemResult)
})

const SearchFilters = {
  event: Type.Optional(EventName),
  from: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: 'ISO 8601, inclusive' })),
  to: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: 'ISO 8601, exclusive' })),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 300, description: 'next_cursor of the previous page' })),
  min_seq: Type.Optional(SeqToken)
}

export const SearchBody = Type.Object({ user_id: UserId, ...SearchFilters })
export const SearchQuery = Type.Object({ user_id: UserId, ...SearchFilters })
export const SearchByUserQuery = Type.Object(SearchFilters)
export const UserParams = Type.Object({ user_id: UserId })
export type SearchBody = Static<typeof SearchBody>

export const CollectedEvent = Type.Object({
  event_id: Type.String(),
  event: Type.String(),
  user_id: Type.String(),
  event_datetime: MicroTime,
  parameters: Parameters,
  anonymous_id: Type.Optional(Type.String({ description: 'an analytics SDK message\'s anonymousId (POST /v1/*); absent for events of /api/collect' })),
  context: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'an analytics SDK message\'s context, as sent' })),
  integrations: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'an analytics SDK message\'s integrations, as sent' }))
})
export type CollectedEvent = Static<typeof CollectedEvent>

export const SearchResponse = Type.Object({
  items: Type.Array(CollectedEvent),
  next_cursor: Type.Union([Type.String(), Type.Null()])
})
export type SearchResponse = Static<typeof SearchResponse>
