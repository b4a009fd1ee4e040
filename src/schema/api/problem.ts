import { Type, type Static } from '@sinclair/typebox'

export const FieldError = Type.Object({
  field: Type.String({ description: "dotted path of the offending field, e.g. 'parameters.price'" }),
  message: Type.String()
})
export type FieldError = Static<typeof FieldError>

/**
 * Every error answer: application/problem+json (RFC 9457), made in one place (src/api/http/errors.ts).
 * A route may add its seed's own failure field (the collector's `is_success: false`).
 */
export const Problem = Type.Object({
  type: Type.String({ description: 'urn:jetway:problem:<code>' }),
  title: Type.String({ description: 'the HTTP status text' }),
  status: Type.Integer(),
  detail: Type.String({ description: 'what went wrong, for a person; a 5xx says only the request id' }),
  code: Type.String({ description: 'stable error code, e.g. JETWAY_VALIDATION' }),
  instance: Type.String({ description: 'the request URL, secrets masked' }),
  errors: Type.Optional(Type.Array(FieldError, { description: 'on 400: one entry per offending field' }))
}, { additionalProperties: true })
export type Problem = Static<typeof Problem>
